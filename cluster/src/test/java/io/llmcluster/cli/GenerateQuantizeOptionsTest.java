package io.llmcluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Bad --quantize combinations end with one clear line and exit code 2, before any model loads. */
class GenerateQuantizeOptionsTest {
    private static String run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(err, true));
        int rc = cmd.execute(args);
        assertEquals(2, rc, err.toString());
        return err.toString().strip();
    }

    @Test
    void shouldRefuseW8a8OffTheCudaBackend() {
        assertEquals("error: --quantize w8a8 runs on the CUDA backend only: add --device cuda",
                run("generate", "--prompt", "x", "--device", "cpu", "--quantize", "w8a8"));
        assertEquals("error: --quantize w8a8 runs on the CUDA backend only: add --device cuda",
                run("generate", "--prompt", "x", "--quantize", "w8a8"));
    }

    @Test
    void shouldRefuseSettingsThatBelongToAnotherMode() {
        assertEquals("error: --int8-group-size applies to --quantize int8 only (W8A8 has one scale per output channel and "
                + "one per token)", run("generate", "--prompt", "x", "--device", "cuda", "--quantize", "w8a8",
                "--int8-group-size", "128"));
        assertEquals("error: --smoothquant-alpha, --calibration-tokens and --calibration-text need --quantize w8a8",
                run("generate", "--prompt", "x", "--quantize", "int8", "--smoothquant-alpha", "0.6"));
        assertEquals("error: --smoothquant-alpha must be in [0, 1], got 2.0",
                run("generate", "--prompt", "x", "--device", "cuda", "--quantize", "w8a8", "--smoothquant-alpha", "2"));
        assertEquals("error: --calibration-text /nonexistent/prompts.txt is not a readable file",
                run("generate", "--prompt", "x", "--device", "cuda", "--quantize", "w8a8", "--calibration-text",
                        "/nonexistent/prompts.txt"));
    }
}
