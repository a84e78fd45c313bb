package io.llmcluster.cluster.routing;

/**
 * What a route added to a worker's entry on top of its last load report: the request's KV footprint and the prompt
 * tokens it will compute there. The gateway hands it back through {@link RoutingPolicy#release} when the request
 * ends, so a request that starts and finishes between two reports stops counting against the worker at once instead
 * of at the next report. {@code reportEpoch} names the report it was made on: after a newer report the reservation
 * is already gone (a report replaces them all), and releasing it changes nothing.
 */
public record Reservation(String workerId, long reportEpoch, int blocks, long pendingTokens) {}
