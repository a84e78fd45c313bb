package io.llmcluster.multijvm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One {@code llmc serve} node in its own JVM, started as {@code bin/llmc} starts it (same JVM flags, the class
 * path of this test run, {@code io.llmcluster.cli.Main serve}), its settings as {@code -D} system properties,
 * its output in a log file. {@link #close} ends it: SIGTERM (the node drains and leaves), SIGKILL after a while.
 */
final class NodeProcess implements AutoCloseable {
    /** The JVM flags of bin/java-env.sh ({@code LLMC_JVM_FLAGS}) that the engine and Artery need. */
    private static final List<String> JVM_FLAGS = List.of("--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-Xmx384m",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-Dorg.slf4j.simpleLogger.showDateTime=true");

    final String name;
    final Path log;
    private final Process process;

    private NodeProcess(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    static NodeProcess start(String name, Map<String, String> settings, Path logDir) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(JVM_FLAGS);
        settings.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.addAll(List.of("-cp", classPath(), "io.llmcluster.cli.Main", "serve", "--device", "cpu"));
        Files.createDirectories(logDir);
        Path log = logDir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("LLMC_")); // only the settings given here
        return new NodeProcess(name, log, pb.start());
    }

    /** This test run's class path (surefire puts the real one in java.class.path of the forked JVM). */
    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        if (!cp.contains("cluster") || !cp.contains("pekko")) {
            throw new IllegalStateException("cannot find the project's class path in this JVM: " + cp);
        }
        return cp;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    /** {@code kill -9}: the node vanishes without leaving the cluster. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM: the node runs its coordinated shutdown (drain, unbind, leave). */
    void terminate() {
        process.destroy();
    }

    /** Waits for the process to end; false when it still runs after {@code timeoutMs}. */
    boolean awaitExit(long timeoutMs) throws InterruptedException {
        return process.waitFor(timeoutMs, TimeUnit.MILLISECONDS);
    }

    int exitValue() {
        return process.exitValue();
    }

    /** The last lines of the node's log, for failure messages. */
    String logTail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return name + " log (" + log + "):\n  " + String.join("\n  ", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return name + ": no log (" + e.getMessage() + ")";
        }
    }

    /** SIGTERM, then SIGKILL when the node has not stopped within 20 s. Never throws. */
    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
