package io.llmcluster.worker.sample;

import java.util.List;

/**
 * Finds stop strings in one sequence's streamed text and says what may be streamed now. Fed the newly decoded
 * text of each step, it returns the text that is safe to emit: everything except the longest tail that could
 * still grow into a stop string (held back), or, once a stop string completes, everything before it. The stop
 * string itself is never emitted (OpenAI / vLLM behaviour). Stops that span steps are found because the held
 * tail is searched together with the new text.
 *
 * <p>When several stop strings appear in one piece of text, the one that completes first wins (ties: the one
 * that starts first), the same answer as feeding the text one character at a time, so the result does not
 * depend on how the text was split into steps. The concatenation of every emitted text and {@link #flush()} is
 * the final output text. Single-threaded, one per sequence.
 */
public final class StopStringMatcher {
    /**
     * What one step may stream.
     *
     * @param text          text to emit now (up to, not including, the stop string when one completed)
     * @param stopString    the stop string that completed, or null
     * @param heldBackChars chars at the end of the text seen so far that are held back (0 once stopped)
     */
    public record Match(String text, String stopString, int heldBackChars) {
        public boolean stopped() {
            return stopString != null;
        }
    }

    private final String[] stops;
    private final int maxStopLength;
    /** Text seen but not yet emitted: always a proper prefix of some stop string (or empty). */
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopStringMatcher(List<String> stopStrings) {
        stops = stopStrings.toArray(String[]::new);
        int max = 0;
        for (String s : stops) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must be non-empty");
            }
            max = Math.max(max, s.length());
        }
        maxStopLength = max;
    }

    /** Feeds the text decoded in this step, matching stop strings. */
    public Match append(CharSequence newText) {
        return append(newText, true);
    }

    /**
     * Feeds the text decoded in this step. With {@code matchStops} false (before {@code minTokens}) no stop
     * string completes, but tails that may grow into one are still held back.
     */
    public Match append(CharSequence newText, boolean matchStops) {
        if (stopped) {
            throw new IllegalStateException("a stop string already ended this sequence");
        }
        int seen = pending.length();
        pending.append(newText);
        if (matchStops) {
            int stop = -1;
            int stopStart = 0;
            int stopEnd = Integer.MAX_VALUE;
            for (int i = 0; i < stops.length; i++) {
                String s = stops[i];
                int start = pending.indexOf(s, Math.max(0, seen - s.length() + 1)); // must end in the new text
                if (start >= 0 && (start + s.length() < stopEnd
                        || start + s.length() == stopEnd && start < stopStart)) {
                    stop = i;
                    stopStart = start;
                    stopEnd = start + s.length();
                }
            }
            if (stop >= 0) {
                String text = pending.substring(0, stopStart);
                pending.setLength(0);
                stopped = true;
                return new Match(text, stops[stop], 0);
            }
        }
        int hold = heldBackLength();
        String text = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        return new Match(text, null, hold);
    }

    /** Releases the held-back text when the sequence ends for another reason (EOS, stop token, length). */
    public String flush() {
        String text = pending.toString();
        pending.setLength(0);
        return text;
    }

    public boolean stopped() {
        return stopped;
    }

    /** Chars currently held back. */
    public int heldBackChars() {
        return pending.length();
    }

    /** Length of the longest tail of {@code pending} that is a proper prefix of some stop string. */
    private int heldBackLength() {
        for (int len = Math.min(pending.length(), maxStopLength - 1); len > 0; len--) {
            for (String s : stops) {
                if (s.length() > len && tailStartsWith(s, len)) {
                    return len;
                }
            }
        }
        return 0;
    }

    private boolean tailStartsWith(String s, int len) {
        int offset = pending.length() - len;
        for (int j = 0; j < len; j++) {
            if (pending.charAt(offset + j) != s.charAt(j)) {
                return false;
            }
        }
        return true;
    }
}
