package io.llmcluster.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmcluster.worker.actor.WorkerLoad;
import io.llmcluster.worker.engine.EngineStats;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A client that goes away mid-request gets its engine request cancelled and its KV blocks freed. */
class DisconnectTest {
    private static final String ENDLESS = "\"max_tokens\": 200, \"temperature\": 0, \"ignore_eos\": true";
    private static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.shared();
        server.awaitReady();
    }

    /** 200 steps then take at least 0.6 s, far longer than a disconnect takes to reach the engine. */
    @BeforeEach
    void slowSteps() {
        server.backend().stepDelayMs(3);
    }

    @AfterEach
    void fastSteps() {
        server.backend().stepDelayMs(0);
    }

    /** Opens a raw connection and sends one POST; the caller reads and then closes it. */
    private static Socket send(String path, String body) throws Exception {
        URI u = URI.create(server.url);
        Socket s = new Socket(u.getHost(), u.getPort());
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: " + u.getHost() + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        return s;
    }

    /** Reads until {@code count} SSE events have arrived. */
    private static void readEvents(InputStream in, int count) throws Exception {
        StringBuilder seen = new StringBuilder();
        byte[] buf = new byte[4096];
        while (seen.toString().split("data: ", -1).length - 1 < count) {
            int n = in.read(buf);
            assertTrue(n > 0, "the stream ended early: " + seen);
            seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
        }
    }

    /**
     * After the client left: the worker cancels the request, and the engine frees its blocks on the turn that
     * reads the cancel, so at most the one step in progress when the cancel was queued runs in between (the
     * server runs nothing else, so the step count stops there).
     */
    private static void assertFreedWithinOneStep(long cancelsBefore, int sequences) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        WorkerLoad load = server.node.load();
        while (load.cancels() == cancelsBefore || load.inFlight() > 0) {
            assertTrue(System.nanoTime() < deadline, "no cancel 10 s after the client left: " + load);
            Thread.sleep(5);
            load = server.node.load();
        }
        assertEquals(cancelsBefore + sequences, load.cancels());
        EngineStats s = server.awaitIdle();
        assertEquals(0, s.usedBlocks(), "KV blocks still in use: " + s);
        assertEquals(0, s.running());
        assertTrue(s.steps() <= load.lastCancelAtStep() + 1,
                "freed " + (s.steps() - load.lastCancelAtStep()) + " steps after the cancel was queued");
    }

    @Test
    void shouldFreeTheBlocksOfAStreamWhoseClientDisconnects() throws Exception {
        server.awaitIdle();
        try (Socket s = send("/v1/completions", "{\"prompt\": \"Tell me a long story\", \"stream\": true, " + ENDLESS + "}")) {
            readEvents(s.getInputStream(), 3);
            long generatedBefore = server.stats().generatedTokens();
            long cancelsBefore = server.node.load().cancels();
            s.close();
            assertFreedWithinOneStep(cancelsBefore, 1);
            assertTrue(server.stats().generatedTokens() - generatedBefore < 190, "cancelled long before max_tokens");
        }
    }

    /**
     * A non-streamed request has nothing to write until it ends, and Pekko HTTP reads a client's FIN as a
     * half-close (the client may still read the answer), so only a reset connection shows the client gone
     * before then; a client that half-closes is bounded by the per-request timeout instead.
     */
    @Test
    void shouldFreeTheBlocksOfANonStreamedRequestWhoseConnectionIsReset() throws Exception {
        server.awaitIdle();
        try (Socket s = send("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"n\": 4, "
                + ENDLESS + "}")) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (server.stats().running() == 0 || server.stats().generatedTokens() == 0) {
                assertTrue(System.nanoTime() < deadline, "the request never started");
                Thread.onSpinWait();
            }
            long cancelsBefore = server.node.load().cancels();
            s.setSoLinger(true, 0); // close with a reset
            s.close();
            assertFreedWithinOneStep(cancelsBefore, 4);
        }
    }
}
