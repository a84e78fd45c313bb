package io.llmcluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code serve --quantize} and the W8A8 options: each bad combination is one clear line, exit 2, before any load. */
class ServeQuantizeOptionsTest {
    private static String run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cmd = Main.commandLine();
        cmd.setErr(new PrintWriter(err, true));
        cmd.setOut(new PrintWriter(new StringWriter(), true));
        int rc = cmd.execute(args);
        return rc + " " + err.toString().strip();
    }

    @Test
    void shouldRefuseW8a8OffCuda() {
        assertEquals("2 error: --quantize w8a8 runs on the CUDA backend only: add --device cuda",
                run("serve", "--device", "cpu", "--quantize", "w8a8", "--port", "0"));
        assertEquals("2 error: --quantize w8a8 runs on the CUDA backend only: add --device cuda",
                run("serve", "--quantize", "w8a8", "--port", "0"));
    }

    @Test
    void shouldRefuseUnknownModesAndStrayW8a8Options() {
        assertEquals("2 error: --quantize fp4 is not supported (int8 or w8a8)",
                run("serve", "--device", "cpu", "--quantize", "fp4", "--port", "0"));
        assertEquals("2 error: --smoothquant-alpha, --calibration-tokens and --calibration-text need --quantize w8a8",
                run("serve", "--device", "cpu", "--quantize", "int8", "--smoothquant-alpha", "0.3", "--port", "0"));
        assertEquals("2 error: --calibration-text /nonexistent/prompts.txt is not a readable file",
                run("serve", "--device", "cuda", "--quantize", "w8a8", "--calibration-text", "/nonexistent/prompts.txt",
                        "--port", "0"));
    }
}
