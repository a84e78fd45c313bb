package io.llmcluster.kv;

import java.util.Arrays;

/**
 * The free blocks of a {@link BlockPool} in eviction order, as an intrusive doubly-linked list over block ids:
 * two int arrays of links and a sentinel (id {@code numBlocks}), so push, pop and removal from the middle are
 * O(1) and allocate nothing. The head is taken first.
 */
final class FreeBlockQueue {
  private static final int NOT_LINKED = -1;

  private final int sentinel;
  private final int[] prev;
  private final int[] next;
  private int size;

  /** A queue holding blocks {@code 0 .. numBlocks-1}, in that order from the head. */
  FreeBlockQueue(int numBlocks) {
    this.sentinel = numBlocks;
    this.prev = new int[numBlocks + 1];
    this.next = new int[numBlocks + 1];
    fillInOrder();
  }

  /** Makes the queue hold every block, in id order from the head. */
  void fillInOrder() {
    Arrays.fill(prev, NOT_LINKED);
    Arrays.fill(next, NOT_LINKED);
    prev[sentinel] = sentinel;
    next[sentinel] = sentinel;
    size = 0;
    for (int id = 0; id < sentinel; id++) {
      pushTail(id);
    }
  }

  int size() {
    return size;
  }

  boolean isEmpty() {
    return size == 0;
  }

  boolean contains(int blockId) {
    return next[blockId] != NOT_LINKED;
  }

  /** Appends {@code blockId}: it will be taken last. */
  void pushTail(int blockId) {
    linkAfter(prev[sentinel], blockId);
  }

  /** Prepends {@code blockId}: it will be taken first. */
  void pushHead(int blockId) {
    linkAfter(sentinel, blockId);
  }

  /** Removes and returns the head; the queue must not be empty. */
  int popHead() {
    int head = next[sentinel];
    if (head == sentinel) {
      throw new IllegalStateException("free block queue is empty");
    }
    remove(head);
    return head;
  }

  /** Unlinks {@code blockId}, which must be in the queue. */
  void remove(int blockId) {
    if (!contains(blockId)) {
      throw new IllegalStateException("block " + blockId + " is not in the free queue");
    }
    next[prev[blockId]] = next[blockId];
    prev[next[blockId]] = prev[blockId];
    prev[blockId] = NOT_LINKED;
    next[blockId] = NOT_LINKED;
    size--;
  }

  /** The queued block ids from head to tail (a copy; for tests and diagnostics). */
  int[] toArray() {
    int[] ids = new int[size];
    int i = 0;
    for (int id = next[sentinel]; id != sentinel; id = next[id]) {
      ids[i++] = id;
    }
    return ids;
  }

  private void linkAfter(int before, int blockId) {
    if (contains(blockId)) {
      throw new IllegalStateException("block " + blockId + " is already in the free queue");
    }
    int after = next[before];
    prev[blockId] = before;
    next[blockId] = after;
    next[before] = blockId;
    prev[after] = blockId;
    size++;
  }
}
