package io.llmcluster.batcher;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SamplingParamsTest {

    static Stream<Arguments> outOfRange() {
        return Stream.of(
                bad("temperature", b -> b.temperature(-0.01)),
                bad("temperature", b -> b.temperature(Double.NaN)),
                bad("temperature", b -> b.temperature(Double.POSITIVE_INFINITY)),
                bad("topK", b -> b.topK(-2)),
                bad("topP", b -> b.topP(0)),
                bad("topP", b -> b.topP(-0.5)),
                bad("topP", b -> b.topP(1.0001)),
                bad("topP", b -> b.topP(Double.NaN)),
                bad("minP", b -> b.minP(-0.01)),
                bad("minP", b -> b.minP(1.01)),
                bad("minP", b -> b.minP(Double.NaN)),
                bad("repetitionPenalty", b -> b.repetitionPenalty(0)),
                bad("repetitionPenalty", b -> b.repetitionPenalty(-1)),
                bad("repetitionPenalty", b -> b.repetitionPenalty(Double.NaN)),
                bad("repetitionPenalty", b -> b.repetitionPenalty(Double.POSITIVE_INFINITY)),
                bad("presencePenalty", b -> b.presencePenalty(2.01)),
                bad("presencePenalty", b -> b.presencePenalty(-2.01)),
                bad("presencePenalty", b -> b.presencePenalty(Double.NaN)),
                bad("frequencyPenalty", b -> b.frequencyPenalty(2.01)),
                bad("frequencyPenalty", b -> b.frequencyPenalty(-2.01)),
                bad("frequencyPenalty", b -> b.frequencyPenalty(Double.NaN)),
                bad("maxTokens", b -> b.maxTokens(0)),
                bad("maxTokens", b -> b.maxTokens(-5)),
                bad("minTokens", b -> b.minTokens(-1)),
                bad("minTokens", b -> b.maxTokens(4).minTokens(5)),
                bad("stopTokenIds[1]", b -> b.stopTokenIds(3, -1)),
                bad("stopTokenIds[0]", b -> b.stopTokenIds(Arrays.asList((Integer) null))),
                bad("stopStrings[1]", b -> b.stopStrings("ok", "")),
                bad("stopStrings[0]", b -> b.stopStrings(Arrays.asList((String) null))),
                bad("logprobs", b -> b.logprobs(-2)),
                bad("logprobs", b -> b.logprobs(21)));
    }

    private static Arguments bad(String field, UnaryOperator<SamplingParams.Builder> change) {
        return Arguments.of(field, change);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("outOfRange")
    void shouldRejectOutOfRangeValueWithMessageNamingTheField(String field, UnaryOperator<SamplingParams.Builder> change) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> change.apply(SamplingParams.builder()).build());
        assertTrue(e.getMessage().startsWith(field + " must be"), e.getMessage());
    }

    @Test
    void shouldStateTheAllowedRangeAndTheValueInTheMessage() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.builder().topP(1.5).build());
        assertEquals("topP must be in (0, 1], got 1.5", e.getMessage());
    }

    @Test
    void shouldAcceptEveryBoundaryValue() {
        assertDoesNotThrow(() -> SamplingParams.builder().temperature(0).topK(1).topP(1e-9).minP(1)
                .repetitionPenalty(1e-3).presencePenalty(-2).frequencyPenalty(2).maxTokens(1).minTokens(1)
                .stopTokenIds(0).stopStrings("x").logprobs(20).build());
        assertDoesNotThrow(() -> SamplingParams.builder().topK(-1).topP(1).minP(0).presencePenalty(2)
                .frequencyPenalty(-2).minTokens(0).logprobs(0).build());
        assertDoesNotThrow(() -> SamplingParams.builder().logprobs(-1).seed(Long.MIN_VALUE).build());
    }

    @Test
    void shouldNormalizeTopKZeroToOff() {
        SamplingParams p = SamplingParams.builder().topK(0).build();
        assertEquals(-1, p.topK());
        assertFalse(p.topKEnabled(1000));
    }

    @Test
    void shouldEnableTopKOnlyBelowTheVocabularySize() {
        SamplingParams p = SamplingParams.builder().topK(50).build();
        assertTrue(p.topKEnabled(51));
        assertFalse(p.topKEnabled(50));
    }

    @Test
    void shouldUseVllmDefaults() {
        SamplingParams p = SamplingParams.defaults();
        assertEquals(1.0, p.temperature());
        assertEquals(-1, p.topK());
        assertEquals(1.0, p.topP());
        assertEquals(0.0, p.minP());
        assertEquals(1.0, p.repetitionPenalty());
        assertEquals(0.0, p.presencePenalty());
        assertEquals(0.0, p.frequencyPenalty());
        assertEquals(OptionalLong.empty(), p.seed());
        assertEquals(16, p.maxTokens());
        assertEquals(0, p.minTokens());
        assertEquals(List.of(), p.stopTokenIds());
        assertEquals(List.of(), p.stopStrings());
        assertFalse(p.ignoreEos());
        assertEquals(-1, p.logprobs());
        assertFalse(p.isGreedy());
        assertFalse(p.hasPenalties());
    }

    @Test
    void shouldBeGreedyAtTemperatureZeroAndBelowEpsilon() {
        assertTrue(SamplingParams.greedy(7).isGreedy());
        assertEquals(7, SamplingParams.greedy(7).maxTokens());
        assertTrue(SamplingParams.builder().temperature(SamplingParams.GREEDY_EPSILON / 2).build().isGreedy());
        assertFalse(SamplingParams.builder().temperature(SamplingParams.GREEDY_EPSILON).build().isGreedy());
    }

    @Test
    void shouldCopyListsSoTheCallerCannotChangeThem() {
        List<String> stops = new ArrayList<>(List.of("a"));
        List<Integer> ids = new ArrayList<>(List.of(5));
        SamplingParams p = SamplingParams.builder().stopStrings(stops).stopTokenIds(ids).build();
        stops.add("b");
        ids.add(6);
        assertEquals(List.of("a"), p.stopStrings());
        assertEquals(List.of(5), p.stopTokenIds());
        assertThrows(UnsupportedOperationException.class, () -> p.stopStrings().add("c"));
    }

    @Test
    void shouldTreatNullListsAndSeedAsAbsent() {
        SamplingParams p = new SamplingParams(1, -1, 1, 0, 1, 0, 0, null, 16, 0, null, null, false, -1);
        assertEquals(List.of(), p.stopTokenIds());
        assertEquals(List.of(), p.stopStrings());
        assertEquals(OptionalLong.empty(), p.seed());
    }

    @Test
    void shouldRoundTripThroughToBuilder() {
        SamplingParams p = SamplingParams.builder().temperature(0.7).topK(40).topP(0.9).minP(0.05)
                .repetitionPenalty(1.1).presencePenalty(0.5).frequencyPenalty(-0.5).seed(42).maxTokens(100)
                .minTokens(3).stopTokenIds(2, 3).stopStrings("\n\n").ignoreEos(true).logprobs(5).build();
        assertEquals(p, p.toBuilder().build());
        assertTrue(p.hasPenalties());
        assertEquals(OptionalLong.of(42), p.seed());
    }

    @Test
    void shouldNameFinishReasonsAsTheOpenAiApiDoes() {
        assertEquals("stop", FinishReason.STOP.apiName());
        assertEquals("length", FinishReason.LENGTH.apiName());
        assertEquals("abort", FinishReason.ABORT.apiName());
        assertEquals("error", FinishReason.ERROR.apiName());
    }
}
