package io.llmcluster.cluster.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.HashExtra;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import io.llmcluster.http.ServedModel;
import io.llmcluster.node.BackendEngineFactory;
import io.llmcluster.node.NodeSettings;
import io.llmcluster.node.ServingNode;
import io.llmcluster.worker.actor.GpuWorker;
import io.llmcluster.worker.engine.TokenChunk;
import io.llmcluster.worker.model.ModelDirectory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two nodes in one JVM on loopback: A (gateway + worker, joins itself) and B (worker only, seeds on A). A's KV
 * directory learns B's worker through the Receptionist, B's cached prefix through the kv-events topic, B's load
 * through the reports topic, routes a request with that prefix to B, and drops B's entries when B leaves. Generous timeouts: the CI machine is a loaded
 * 2-core box; every wait polls a condition, none sleeps a fixed time.
 */
class TwoNodeClusterTest {
  private static final String TOKEN = "two-node-token";
  private static final Duration WAIT = Duration.ofSeconds(90);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private static ModelDirectory model;
  private static ServingNode a;
  private static ServingNode b;

  @BeforeAll
  static void start() throws Exception {
    model = ModelDirectory.openDefault();
    a = node("gpu-worker-a", "[gateway, worker]", "[]");
    b = node("gpu-worker-b", "[worker]", "[\"" + a.clusterAddress() + "\"]");
    assertTrue(a.awaitReady(WAIT), "node A's engine never started");
    assertTrue(b.awaitReady(WAIT), "node B's engine never started");
  }

  @AfterAll
  static void stop() {
    if (b != null) {
      b.close();
    }
    if (a != null) {
      a.close();
    }
    if (model != null) {
      model.close();
    }
  }

  private static ServingNode node(String workerId, String roles, String seeds) {
    Config config = ConfigFactory.parseString("""
        llmcluster.http.port = 0
        llmcluster.http.admin-token = "%s"
        llmcluster.http.drain-timeout = 5 s
        llmcluster.node.port = 0
        llmcluster.node.roles = %s
        llmcluster.node.seed-nodes = %s
        llmcluster.node.report-interval = 200 ms
        llmcluster.node.directory-tick = 500 ms
        llmcluster.worker.id = "%s"
        llmcluster.cpu.threads = 1
        llmcluster.cpu.kv-cache-size = 8 MiB
        """.formatted(TOKEN, roles, seeds, workerId)).withFallback(ConfigFactory.load()).resolve();
    NodeSettings s = NodeSettings.from(config);
    return ServingNode.start(s, ServedModel.of(model), BackendEngineFactory.cpu(model, s.cpu(), s.engine()), config);
  }

  @Test
  void shouldSeeTheSecondWorkersPrefixAndDropItWhenItLeaves() throws Exception {
    JsonNode cluster = awaitAdmin("cluster", c -> c.get("members").size() == 2
        && c.get("members").findValues("status").stream().allMatch(s -> s.asText().equals("up")));
    assertTrue(cluster.get("members").findValuesAsText("address").contains(cluster.get("leader").asText()),
        cluster.toString()); // the leader is the lowest address among those up: either node
    assertEquals(a.clusterAddress(), cluster.get("self").asText());
    awaitAdmin("workers", w -> w.get("workers").size() == 2);

    int[] prompt = new int[50]; // three full blocks of 16 and a bit
    for (int i = 0; i < prompt.length; i++) {
      prompt[i] = 3 + (i * 7) % 200;
    }
    generateOn(b, prompt);

    JsonNode kv = awaitAdmin("kv", k -> k.at("/per_worker/gpu-worker-b/blocks").asInt() >= 3);
    assertEquals(0, kv.at("/per_worker/gpu-worker-a/blocks").asInt(), kv.toString());
    assertEquals("in_sync", kv.at("/per_worker/gpu-worker-b/sync").asText(), kv.toString());

    // the gateway hashes the prompt as the engines do; its router sends it to B, which holds three blocks
    long[] chain = new BlockHasher(HashExtra.base(model.modelId(), "fp32"), 16).hashFullBlocks(prompt);
    KvDirectory.RouteReply reply = AskPattern.<KvDirectory.Command, KvDirectory.RouteReply>ask(a.directory(),
        r -> new KvDirectory.Route(RouteRequest.of(chain, 16, prompt.length, 16), r), WAIT, a.system().scheduler())
        .toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
    RouteDecision.Route route = assertInstanceOf(RouteDecision.Route.class, reply.decision());
    assertEquals("gpu-worker-b", route.workerId());
    assertEquals(3, route.cachedBlocks());
    assertEquals("gpu-worker-b", reply.worker().path().name());

    b.close();
    b = null;
    kv = awaitAdmin("kv", k -> k.get("per_worker").get("gpu-worker-b") == null);
    assertTrue(kv.get("workers_removed").asLong() >= 1, kv.toString());
    assertFalse(kv.get("per_worker").has("gpu-worker-b"));
    awaitAdmin("cluster", c -> c.get("members").size() == 1);
    awaitAdmin("workers", w -> w.get("workers").size() == 1);
  }

  @Test
  void shouldRequireTheAdminTokenForTheClusterViews() throws Exception {
    for (String what : new String[] {"cluster", "workers", "kv"}) {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(a.baseUrl() + "/admin/" + what))
          .header("Authorization", "Bearer wrong").build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(401, r.statusCode(), what);
    }
  }

  /** Sends one greedy request of one token straight to {@code node}'s worker and waits for its end. */
  private static void generateOn(ServingNode node, int[] prompt) throws Exception {
    CompletableFuture<TokenChunk> last = new CompletableFuture<>();
    ActorRef<TokenChunk> chunks = node.system().systemActorOf(Behaviors.receive(TokenChunk.class)
        .onMessage(TokenChunk.class, c -> {
          if (c.isLast()) {
            last.complete(c);
          }
          return Behaviors.same();
        }).build(), "test-chunks", Props.empty());
    CompletableFuture<GpuWorker.GenerateReply> reply = new CompletableFuture<>();
    ActorRef<GpuWorker.GenerateReply> replies = node.system().systemActorOf(
        Behaviors.receive(GpuWorker.GenerateReply.class).onMessage(GpuWorker.GenerateReply.class, r -> {
          reply.complete(r);
          return Behaviors.same();
        }).build(), "test-replies", Props.empty());
    node.worker().tell(new GpuWorker.Generate(List.of(new GpuWorker.SequenceSpec(prompt, SamplingParams.greedy(1), 0)),
        60_000, chunks, replies));
    assertTrue(reply.get(WAIT.toSeconds(), TimeUnit.SECONDS) instanceof GpuWorker.Accepted, "not admitted");
    last.get(WAIT.toSeconds(), TimeUnit.SECONDS);
  }

  /** Polls {@code GET /admin/<what>} on A until {@code done} holds; the last body on timeout. */
  private static JsonNode awaitAdmin(String what, Predicate<JsonNode> done) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    JsonNode body = null;
    while (System.nanoTime() < deadline) {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(a.baseUrl() + "/admin/" + what))
          .header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      body = JSON.readTree(r.body());
      if (done.test(body)) {
        return body;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("/admin/" + what + " never got there; last: " + body);
  }
}
