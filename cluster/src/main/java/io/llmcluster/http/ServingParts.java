package io.llmcluster.http;

import io.llmcluster.cluster.gateway.Gateway;
import io.llmcluster.cluster.gateway.KvDirectory;
import io.llmcluster.cluster.worker.Batcher;
import io.llmcluster.worker.actor.GpuWorker;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The actors a gateway's HTTP API talks to.
 *
 * @param gateway         the request path: every generation request becomes one of its sessions
 * @param directory       the KV directory replica (routing, admin views, capacity)
 * @param worker          this node's engine actor, or null on a gateway-only node (health, metrics, /admin/engine)
 * @param batcher         this node's worker's batcher, or null on a gateway-only node (drain)
 * @param blockSizeTokens tokens per block of the prompt hashes looked up in the directory (the workers' block size)
 * @param kvHashDtype     the KV dtype of those hashes (the workers' {@code KvCacheDtype.hashName()}, from
 *                        llmcluster.worker.kv-cache-dtype), so they name the same blocks as the workers' events
 */
public record ServingParts(ActorRef<Gateway.Command> gateway, ActorRef<KvDirectory.Command> directory,
                           ActorRef<GpuWorker.Command> worker, ActorRef<Batcher.Command> batcher, int blockSizeTokens,
                           String kvHashDtype) {
    public ServingParts {
        Objects.requireNonNull(gateway, "gateway");
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(kvHashDtype, "kvHashDtype");
    }
}
