package io.llmcluster.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Streamed {@code /v1/completions} against the gateway for the separate-JVM tests: greedy, {@code ignore_eos}, so
 * a request produces exactly {@code max_tokens} tokens unless something fails. Each call ends within its timeout
 * whatever the server does (the client's own deadline), and says how it ended.
 */
final class Completions {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String WORKER_HEADER = "x-llmc-worker";

    private final HttpClient http;
    private final String baseUrl;

    Completions(HttpClient http, String baseUrl) {
        this.http = http;
        this.baseUrl = baseUrl;
    }

    /**
     * How a request ended. {@code status}: the HTTP status (0: no answer); {@code tokens}: the completion tokens
     * of the usage chunk (-1 without one);
     * {@code finishReason}: of the last chunk, or null; {@code error}: an OpenAI error (status >= 400, or an
     * error event in the stream), a client-side failure, or null; {@code timedOut}: the client's deadline passed.
     */
    record Outcome(int status, String worker, int tokens, String finishReason, String error, boolean timedOut,
                   long elapsedMs) {
        boolean completed(int maxTokens) {
            return status == 200 && error == null && tokens == maxTokens && "length".equals(finishReason);
        }

        /** An answer the client can act on: an HTTP error with an OpenAI error body, or an error event. */
        boolean clearError() {
            return !timedOut && error != null && error.contains("message");
        }
    }

    /**
     * Sends one streamed request and gives up at {@code timeout} plus 5 s whatever the server does (the client's
     * own deadline: a stream that stops sending hangs nobody); {@code started} completes with the worker's id at
     * the first chunk.
     */
    Outcome stream(String prompt, int maxTokens, Duration timeout, CompletableFuture<String> started) {
        CompletableFuture<Outcome> f = CompletableFuture.supplyAsync(() -> streamBlocking(prompt, maxTokens, timeout, started),
                Thread::startVirtualThread);
        try {
            return f.get(timeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new Outcome(0, null, -1, null, "no end within " + timeout.toSeconds() + " s", true, timeout.toMillis());
        } catch (Exception e) {
            return new Outcome(0, null, -1, null, e.toString(), false, 0);
        }
    }

    private Outcome streamBlocking(String prompt, int maxTokens, Duration timeout, CompletableFuture<String> started) {
        long t0 = System.nanoTime();
        String body;
        try {
            body = JSON.writeValueAsString(Map.of("prompt", prompt, "max_tokens", maxTokens, "temperature", 0,
                    "ignore_eos", true, "stream", true, "stream_options", Map.of("include_usage", true)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        String worker = null;
        int tokens = -1; // completion_tokens of the usage chunk
        int chunks = 0;
        String finish = null;
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(timeout)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            worker = r.headers().firstValue(WORKER_HEADER).orElse(null);
            try (Stream<String> lines = r.body()) {
                if (r.statusCode() != 200) {
                    return new Outcome(r.statusCode(), worker, 0, null, String.join(" ", lines.toList()), false, ms(t0));
                }
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonNode ev = JSON.readTree(line.substring(6));
                    if (ev.has("error")) {
                        return new Outcome(200, worker, tokens, finish, ev.get("error").toString(), false, ms(t0));
                    }
                    for (JsonNode c : ev.path("choices")) {
                        chunks++;
                        if (c.hasNonNull("finish_reason")) {
                            finish = c.get("finish_reason").asText();
                        }
                    }
                    if (ev.hasNonNull("usage")) {
                        tokens = ev.get("usage").path("completion_tokens").asInt();
                    }
                    if (started != null && chunks > 0) {
                        started.complete(worker);
                    }
                }
            }
            return new Outcome(200, worker, tokens, finish, null, false, ms(t0));
        } catch (HttpTimeoutException e) {
            return new Outcome(0, worker, tokens, finish, e.toString(), true, ms(t0));
        } catch (Exception e) {
            boolean late = ms(t0) >= timeout.toMillis();
            return new Outcome(0, worker, tokens, finish, e.toString(), late, ms(t0));
        } finally {
            if (started != null) {
                started.complete(worker);
            }
        }
    }

    private static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
