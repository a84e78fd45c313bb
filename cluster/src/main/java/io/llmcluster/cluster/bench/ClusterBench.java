package io.llmcluster.cluster.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The cluster benchmark's load (deploy/bench/cluster-bench.sh; not a test): {@code users} clients, each sending
 * its requests one after another to a gateway's {@code /v1/completions} with {@code "stream": true}. Every prompt
 * is one of {@code systems} long system prompts followed by a short question of its own; which system prompt is
 * drawn at random from a fixed seed, so two runs send the same requests in the same order. It measures the time
 * to first token (TTFT: request sent to the first streamed token) and which worker served each request (the
 * gateway's {@code x-llmc-worker} header); after the run it reads {@code /admin/workers} for the workers' prefix
 * cache hit rates. First {@code warmup} requests with unrelated prompts warm the JVMs up (not measured).
 *
 * <p>Prints {@code key=value} lines: {@code ttft_p50_s}, {@code ttft_p95_s}, {@code ttft_mean_s}, {@code ok},
 * {@code errors}, {@code wall_s}, {@code prompt_tokens_mean}, {@code hit_rate} (the workers' prefix hit rates
 * weighted by the requests each served), {@code served.<worker>}, {@code first_error}.
 *
 * <pre>ClusterBench URL ADMIN_TOKEN [systems=8] [systemWords=600] [users=6] [requests=96] [maxTokens=4] [warmup=6] [seed=7]</pre>
 */
public final class ClusterBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofMinutes(5);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String url;
    private final String token;

    private ClusterBench(String url, String token) {
        this.url = url;
        this.token = token;
    }

    /** One request's outcome: TTFT in seconds (NaN on error), the worker that served it, the prompt's length. */
    record Result(double ttftS, String worker, int promptTokens, String error) {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ClusterBench URL ADMIN_TOKEN [systems] [systemWords] [users] [requests] [maxTokens] [warmup] [seed]");
            System.exit(2);
        }
        int systems = arg(args, 2, 8);
        int systemWords = arg(args, 3, 600);
        int users = arg(args, 4, 6);
        int requests = arg(args, 5, 96);
        int maxTokens = arg(args, 6, 4);
        int warmup = arg(args, 7, 6);
        long seed = arg(args, 8, 7);
        ClusterBench bench = new ClusterBench(args[0], args[1]);

        SplittableRandom wr = new SplittableRandom(seed ^ 0x5eed);
        List<String> warm = new ArrayList<>();
        for (int i = 0; i < warmup; i++) {
            warm.add(PromptText.words(wr, systemWords) + "\n" + PromptText.words(wr, 12));
        }
        bench.run(warm, users, maxTokens); // JIT warm-up, not measured

        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> system = new ArrayList<>();
        for (int s = 0; s < systems; s++) {
            system.add("System prompt " + s + ". " + PromptText.words(new SplittableRandom(seed * 1000 + s), systemWords));
        }
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            prompts.add(system.get(rnd.nextInt(systems)) + "\nUser " + i + ": " + PromptText.words(rnd, 12));
        }
        long t0 = System.nanoTime();
        List<Result> results = bench.run(prompts, users, maxTokens);
        double wallS = (System.nanoTime() - t0) / 1e9;
        bench.report(results, wallS);
    }

    private static int arg(String[] args, int i, int dflt) {
        return args.length > i ? Integer.parseInt(args[i]) : dflt;
    }

    /** Sends {@code prompts} from {@code users} concurrent clients (each takes the next prompt when done). */
    private List<Result> run(List<String> prompts, int users, int maxTokens) throws Exception {
        Result[] out = new Result[prompts.size()];
        AtomicInteger next = new AtomicInteger();
        try (ExecutorService pool = Executors.newFixedThreadPool(users)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int u = 0; u < users; u++) {
                fs.add(pool.submit(() -> {
                    for (int i = next.getAndIncrement(); i < prompts.size(); i = next.getAndIncrement()) {
                        out[i] = send(prompts.get(i), maxTokens);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
        return Arrays.asList(out);
    }

    /** One streamed completion; TTFT is taken at the first {@code data:} event that carries text. */
    private Result send(String prompt, int maxTokens) {
        String body;
        try {
            body = JSON.writeValueAsString(Map.of("prompt", prompt, "max_tokens", maxTokens,
                    "temperature", 0, "stream", true, "stream_options", Map.of("include_usage", true)));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        long t0 = System.nanoTime();
        try {
            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(TIMEOUT)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
            String worker = r.headers().firstValue("x-llmc-worker").orElse("?");
            if (r.statusCode() != 200) {
                String text;
                try (Stream<String> lines = r.body()) {
                    text = String.join(" ", lines.toList());
                }
                return new Result(Double.NaN, worker, 0, r.statusCode() + " " + text);
            }
            double ttft = Double.NaN;
            int promptTokens = 0;
            try (Stream<String> lines = r.body()) {
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonNode ev = JSON.readTree(line.substring(6));
                    if (ev.has("error")) {
                        return new Result(Double.NaN, worker, 0, ev.get("error").toString());
                    }
                    if (Double.isNaN(ttft) && ev.path("choices").size() > 0) {
                        ttft = (System.nanoTime() - t0) / 1e9;
                    }
                    if (ev.hasNonNull("usage")) {
                        promptTokens = ev.get("usage").path("prompt_tokens").asInt();
                    }
                }
            }
            return new Result(ttft, worker, promptTokens, Double.isNaN(ttft) ? "no token streamed" : null);
        } catch (Exception e) {
            return new Result(Double.NaN, "?", 0, e.toString());
        }
    }

    private void report(List<Result> results, double wallS) throws Exception {
        double[] ttft = results.stream().filter(r -> r.error() == null).mapToDouble(Result::ttftS).sorted().toArray();
        Map<String, Integer> served = new TreeMap<>();
        results.stream().filter(r -> r.error() == null).forEach(r -> served.merge(r.worker(), 1, Integer::sum));
        System.out.printf("ok=%d%nerrors=%d%nwall_s=%.2f%n", ttft.length, results.size() - ttft.length, wallS);
        results.stream().filter(r -> r.error() != null).findFirst()
                .ifPresent(r -> System.out.println("first_error=" + r.error().replace('\n', ' ')));
        if (ttft.length > 0) {
            System.out.printf("ttft_p50_s=%.4f%nttft_p95_s=%.4f%nttft_mean_s=%.4f%n", percentile(ttft, 0.50),
                    percentile(ttft, 0.95), Arrays.stream(ttft).average().orElse(Double.NaN));
            System.out.printf("prompt_tokens_mean=%.0f%n", results.stream().filter(r -> r.error() == null)
                    .mapToInt(Result::promptTokens).average().orElse(0));
        }
        served.forEach((w, n) -> System.out.println("served." + w + "=" + n));
        System.out.printf("hit_rate=%.4f%n", weightedHitRate(served));
    }

    /** Nearest-rank percentile of sorted values. */
    static double percentile(double[] sorted, double p) {
        int i = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    /** The workers' cumulative prefix hit rates (/admin/workers), weighted by the requests each served here. */
    private double weightedHitRate(Map<String, Integer> served) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/admin/workers"))
                .header("Authorization", "Bearer " + token).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            return Double.NaN;
        }
        Map<String, Double> rate = new ConcurrentHashMap<>();
        JSON.readTree(r.body()).get("workers").forEach(w -> rate.put(w.get("id").asText(), w.get("prefix_hit_rate").asDouble()));
        double sum = 0;
        int n = 0;
        for (var e : served.entrySet()) {
            if (rate.containsKey(e.getKey())) {
                sum += rate.get(e.getKey()) * e.getValue();
                n += e.getValue();
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }
}
