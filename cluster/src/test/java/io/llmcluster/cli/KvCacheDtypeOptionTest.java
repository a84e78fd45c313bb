package io.llmcluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code --kv-cache-dtype} on the command line: a bad value or an INT8 cache on the CPU is one clear line, exit 2. */
class KvCacheDtypeOptionTest {
    private static String run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(err, true));
        cmd.setOut(new PrintWriter(new StringWriter(), true));
        int rc = cmd.execute(args);
        return rc + " " + err.toString().strip();
    }

    @Test
    void shouldRefuseAnUnknownKvCacheDtypeBeforeLoadingAnything() {
        assertEquals("2 error: kv-cache-dtype 'fp8' is not supported: use auto (the model's run dtype) or int8 (CUDA only)",
                run("generate", "--prompt", "hi", "--device", "cpu", "--kv-cache-dtype", "fp8"));
        assertEquals("2 error: kv-cache-dtype 'fp8' is not supported: use auto (the model's run dtype) or int8 (CUDA only)",
                run("serve", "--device", "cpu", "--kv-cache-dtype", "fp8", "--port", "0"));
    }

    @Test
    void shouldRefuseAnInt8CacheOnTheCpu() {
        assertEquals("2 error: --kv-cache-dtype int8 needs the CUDA backend (--device cuda); the CPU backend keeps its KV "
                + "cache in FP32: use --kv-cache-dtype auto", run("generate", "--prompt", "hi", "--device", "cpu",
                "--kv-cache-dtype", "int8", "--max-tokens", "1"));
        assertEquals("2 error: --kv-cache-dtype int8 needs the CUDA backend; --device cpu keeps the KV cache in FP32",
                run("serve", "--device", "cpu", "--kv-cache-dtype", "int8", "--port", "0"));
    }
}
