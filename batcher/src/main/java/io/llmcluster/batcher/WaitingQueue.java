package io.llmcluster.batcher;

import java.util.Arrays;

/**
 * The scheduler's waiting requests in admission order: a growable ring buffer with O(1) {@link #addFirst},
 * {@link #addLast} and {@link #pollFirst}, and O(n) {@link #insertByPriority} and {@link #remove} (n waiting
 * requests; called per arrival, preemption or cancel, not per scheduled token). Allocates only to grow.
 */
final class WaitingQueue {
    private Request[] items;
    private int head;
    private int size;

    WaitingQueue(int initialCapacity) {
        items = new Request[Math.max(4, initialCapacity)];
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** The request at position {@code index} from the front. */
    Request get(int index) {
        return items[slot(index)];
    }

    Request peekFirst() {
        return size == 0 ? null : items[head];
    }

    Request pollFirst() {
        if (size == 0) {
            return null;
        }
        Request first = items[head];
        items[head] = null;
        head = slot(1);
        size--;
        return first;
    }

    void addLast(Request request) {
        ensureRoom();
        items[slot(size)] = request;
        size++;
    }

    void addFirst(Request request) {
        ensureRoom();
        head = (head - 1 + items.length) % items.length;
        items[head] = request;
        size++;
    }

    /** Inserts after every request with a smaller or equal {@code (priority, arrivalSeq)}. */
    void insertByPriority(Request request) {
        int index = size;
        while (index > 0 && comesBefore(request, get(index - 1))) {
            index--;
        }
        insertAt(index, request);
    }

    /** Removes {@code request} (by identity); returns whether it was here. */
    boolean remove(Request request) {
        for (int i = 0; i < size; i++) {
            if (get(i) == request) {
                for (int j = i; j < size - 1; j++) {
                    items[slot(j)] = items[slot(j + 1)];
                }
                items[slot(size - 1)] = null;
                size--;
                return true;
            }
        }
        return false;
    }

    /** Whether {@code a} is served before {@code b} under {@link SchedulingPolicy#PRIORITY}. */
    static boolean comesBefore(Request a, Request b) {
        return a.priority() != b.priority() ? a.priority() < b.priority() : a.arrivalSeq < b.arrivalSeq;
    }

    private void insertAt(int index, Request request) {
        ensureRoom();
        for (int j = size; j > index; j--) {
            items[slot(j)] = items[slot(j - 1)];
        }
        items[slot(index)] = request;
        size++;
    }

    private int slot(int index) {
        int slot = head + index;
        return slot >= items.length ? slot - items.length : slot;
    }

    private void ensureRoom() {
        if (size < items.length) {
            return;
        }
        Request[] grown = new Request[2 * items.length];
        for (int i = 0; i < size; i++) {
            grown[i] = get(i);
        }
        items = grown;
        head = 0;
    }

    @Override
    public String toString() {
        Request[] inOrder = new Request[size];
        for (int i = 0; i < size; i++) {
            inOrder[i] = get(i);
        }
        return Arrays.toString(inOrder);
    }
}
