package io.llmcluster.cluster.serialization;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Array;
import java.lang.reflect.RecordComponent;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Structural equality for round-trip tests: records component by component, arrays element by element (a record's
 * own {@code equals} compares its array components by identity), floats and doubles bit for bit (NaN equals NaN),
 * actor references by path.
 */
final class DeepEquals {
    private DeepEquals() {}

    static void assertDeepEquals(Object expected, Object actual, String where) {
        if (expected == null || actual == null) {
            assertEquals(expected, actual, where);
            return;
        }
        assertEquals(expected.getClass(), actual.getClass(), where);
        Class<?> type = expected.getClass();
        if (type.isArray()) {
            assertEquals(Array.getLength(expected), Array.getLength(actual), where + " length");
            for (int i = 0; i < Array.getLength(expected); i++) {
                assertDeepEquals(Array.get(expected, i), Array.get(actual, i), where + "[" + i + "]");
            }
        } else if (type.isRecord()) {
            for (RecordComponent c : type.getRecordComponents()) {
                try {
                    c.getAccessor().setAccessible(true);
                    assertDeepEquals(c.getAccessor().invoke(expected), c.getAccessor().invoke(actual),
                            where + "." + c.getName());
                } catch (ReflectiveOperationException e) {
                    throw new AssertionError(e);
                }
            }
        } else if (expected instanceof ActorRef<?> ref) {
            assertEquals(ref.path(), ((ActorRef<?>) actual).path(), where);
        } else {
            assertEquals(expected, actual, where); // Float/Double.equals compare bits: NaN == NaN
        }
    }
}
