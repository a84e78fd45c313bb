package io.llmcluster.worker.cuda;

import java.util.EnumMap;
import java.util.Map;
import jcuda.driver.CUevent;

/**
 * Device time of one eager forward step by kind of operation (benchmark only): {@link CudaBackend} records an event after
 * each operation while a profile is attached, and {@link #millis} sums the gaps between consecutive events per kind,
 * over all layers. Run the step queued behind a spin kernel so that the host's launch cost does not show as gaps.
 * Events are made once and reused; nothing here runs inside a graph capture (profiled steps are eager).
 */
final class StepProfile {
    /** The step's operations in the order a layer queues them. */
    enum Op {
        EMBEDDING, NORM, QKV, ROPE_KV, ATTENTION, O_PROJ, GATE_UP_SWIGLU, DOWN, FINAL_NORM, LM_HEAD
    }

    private final CudaContext ctx;
    private final CUevent[] events;
    private final Op[] ops;
    private int used;

    /** Room for {@code maxOps} operations per step. */
    StepProfile(CudaContext ctx, int maxOps) {
        this.ctx = ctx;
        this.events = new CUevent[maxOps + 1];
        this.ops = new Op[maxOps + 1];
        for (int i = 0; i < events.length; i++) {
            events[i] = ctx.newEvent();
        }
    }

    /** Starts a step: the reference event. */
    void begin() {
        used = 0;
        ctx.record(events[used++]);
    }

    /** Marks the end of {@code op} (everything queued since the previous mark). */
    void mark(Op op) {
        if (used == events.length) {
            throw new IllegalStateException("more than " + (events.length - 1) + " operations in a profiled step");
        }
        ops[used] = op;
        ctx.record(events[used++]);
    }

    /** Milliseconds per kind of operation of the last step (waits for it), in {@link Op} order. */
    Map<Op, Double> millis() {
        Map<Op, Double> ms = new EnumMap<>(Op.class);
        for (int i = 1; i < used; i++) {
            ms.merge(ops[i], (double) ctx.elapsedMs(events[i - 1], events[i]), Double::sum);
        }
        return ms;
    }

    /** Milliseconds from {@link #begin} to the last mark. */
    double totalMillis() {
        return used < 2 ? 0 : ctx.elapsedMs(events[0], events[used - 1]);
    }

    void close() {
        for (CUevent e : events) {
            ctx.destroy(e);
        }
    }
}
