package io.llmcluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code --kv-cache-dtype} on the command line: a bad value is one clear line, exit 2; int8 runs on the CPU. */
class KvCacheDtypeOptionTest {
    private static String run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(err, true));
        cmd.setOut(new PrintWriter(new StringWriter(), true));
        int rc = cmd.execute(args);
        return rc + " " + err.toString().strip();
    }

    private static int exitCode(String... args) {
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(new StringWriter(), true));
        return cmd.execute(args);
    }

    @Test
    void shouldRefuseAnUnknownKvCacheDtypeBeforeLoadingAnything() {
        assertEquals("2 error: kv-cache-dtype 'fp8' is not supported: use auto (the model's run dtype) or int8",
                run("generate", "--prompt", "hi", "--device", "cpu", "--kv-cache-dtype", "fp8"));
        assertEquals("2 error: kv-cache-dtype 'fp8' is not supported: use auto (the model's run dtype) or int8",
                run("serve", "--device", "cpu", "--kv-cache-dtype", "fp8", "--port", "0"));
    }

    @Test
    void shouldGenerateWithAnInt8CacheOnTheCpu() {
        assertEquals(0, exitCode("generate", "--prompt", "hi", "--device", "cpu", "--kv-cache-dtype", "int8",
                "--max-tokens", "3", "--temperature", "0", "--threads", "1"));
    }
}
