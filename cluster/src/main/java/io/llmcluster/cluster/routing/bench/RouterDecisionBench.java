package io.llmcluster.cluster.routing.bench;

import io.llmcluster.cluster.routing.RouteDecision;
import io.llmcluster.cluster.routing.RouteRequest;
import io.llmcluster.cluster.routing.Router;
import io.llmcluster.cluster.routing.WorkerLoad;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvIndex;
import io.llmcluster.kv.TokenSequence;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Random;
import org.agrona.collections.LongArrayList;

/**
 * Times {@link Router#route} (prefix lookup in the directory plus the cost of every worker) on a directory of
 * {@code blocks} distinct block hashes spread over {@code workers} workers (not a test). The directory holds
 * {@code blocks / chainBlocks} prompt chains, each cached on 1 to 3 random workers; each request's chain
 * starts with a random cached chain, cut at a random point, and goes on with blocks nobody holds. Load reports
 * change every 64 decisions (not timed). Prints p50/p99/p99.9/max in microseconds and bytes allocated per
 * decision; also the time to hash a prompt of the same length ({@code BlockHasher.hashFullBlocks}).
 *
 * <p>Arguments: {@code [workers=8,16,32] [blocks=100000] [chainBlocks=64] [requestBlocks=128] [decisions=200000]}.
 */
public final class RouterDecisionBench {
  private static final int BLOCK = 16;

  public static void main(String[] args) {
    int[] workerCounts = Arrays.stream((args.length > 0 ? args[0] : "8,16,32").split(","))
        .mapToInt(Integer::parseInt).toArray();
    int blocks = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
    int chainBlocks = args.length > 2 ? Integer.parseInt(args[2]) : 64;
    int requestBlocks = args.length > 3 ? Integer.parseInt(args[3]) : 128;
    int decisions = args.length > 4 ? Integer.parseInt(args[4]) : 200_000;
    System.out.printf("router decision: %d-block directory, chains of %d blocks, requests of %d blocks (%d tokens)%n",
        blocks, chainBlocks, requestBlocks, requestBlocks * BLOCK);
    for (int workers : workerCounts) {
      run(workers, blocks, chainBlocks, requestBlocks, decisions);
    }
    hashing(requestBlocks * BLOCK);
  }

  private static void run(int numWorkers, int blocks, int chainBlocks, int requestBlocks, int decisions) {
    Random rnd = new Random(numWorkers);
    KvIndex index = new KvIndex();
    int chains = blocks / chainBlocks;
    long[][] chainHashes = new long[chains][chainBlocks];
    long[] seqs = new long[numWorkers];
    for (int c = 0; c < chains; c++) {
      for (int b = 0; b < chainBlocks; b++) {
        chainHashes[c][b] = rnd.nextLong();
      }
      for (int copies = 1 + rnd.nextInt(3); copies > 0; copies--) {
        int w = rnd.nextInt(numWorkers);
        index.apply("w" + w, java.util.List.of(
            new KvEvent.BlockStored(1, ++seqs[w], 0, chainHashes[c], BLOCK)));
      }
    }
    Router router = new Router(index);
    for (int w = 0; w < numWorkers; w++) {
      router.updateLoad(randomLoad(w, rnd));
    }
    long[][] requests = new long[1024][requestBlocks];
    for (long[] r : requests) {
      long[] prefix = chainHashes[rnd.nextInt(chains)];
      int cut = rnd.nextInt(Math.min(chainBlocks, requestBlocks) + 1);
      for (int b = 0; b < requestBlocks; b++) {
        r[b] = b < cut ? prefix[b] : rnd.nextLong();
      }
    }
    int warmup = decisions / 4;
    long[] nanos = new long[decisions];
    var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long routed = 0;
    long allocatedBefore = 0;
    for (int i = -warmup; i < decisions; i++) {
      if ((i & 63) == 0) {
        router.updateLoad(randomLoad(rnd.nextInt(numWorkers), rnd));
      }
      if (i == 0) {
        allocatedBefore = threads.getCurrentThreadAllocatedBytes();
      }
      RouteRequest request = RouteRequest.of(requests[i & 1023], BLOCK, requestBlocks * BLOCK + 7, 256);
      long start = System.nanoTime();
      RouteDecision d = router.route(request);
      long took = System.nanoTime() - start;
      if (i >= 0) {
        nanos[i] = took;
      }
      routed += d instanceof RouteDecision.Route ? 1 : 0;
    }
    long allocated = threads.getCurrentThreadAllocatedBytes() - allocatedBefore;
    Arrays.sort(nanos);
    System.out.printf("  %2d workers, %,d distinct hashes, %,d entries: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
            + "max %.1f us; %d bytes allocated per decision (timed loop incl. load updates); %.0f%% routed%n",
        numWorkers, index.distinctHashes(), index.entries(), nanos[decisions / 2] / 1e3,
        nanos[(int) (decisions * 0.99)] / 1e3, nanos[(int) (decisions * 0.999)] / 1e3, nanos[decisions - 1] / 1e3,
        allocated / decisions, 100.0 * routed / (decisions + warmup));
  }

  private static WorkerLoad randomLoad(int w, Random rnd) {
    return new WorkerLoad("w" + w, 1, rnd.nextInt(32), rnd.nextInt(8), rnd.nextInt(8192), 20_000 + rnd.nextInt(80_000),
        100_000, BLOCK, 2048, 5000 + rnd.nextInt(20_000), 500 + rnd.nextInt(2000), rnd.nextInt(20) == 0);
  }

  private static void hashing(int promptTokens) {
    BlockHasher hasher = new BlockHasher(HashExtra.base("bench", "bf16"), BLOCK);
    int[] tokens = new Random(1).ints(promptTokens, 0, 128_000).toArray();
    TokenSequence seq = TokenSequence.of(tokens);
    LongArrayList out = new LongArrayList(promptTokens / BLOCK + 1, 0);
    int n = 20_000;
    long[] nanos = new long[n];
    for (int i = -n; i < n; i++) {
      out.clear();
      long start = System.nanoTime();
      hasher.hashFullBlocks(seq, out);
      if (i >= 0) {
        nanos[i] = System.nanoTime() - start;
      }
    }
    Arrays.sort(nanos);
    System.out.printf("hashing a %d-token prompt: p50 %.1f us, p99 %.1f us%n", promptTokens, nanos[n / 2] / 1e3,
        nanos[(int) (n * 0.99)] / 1e3);
  }
}
