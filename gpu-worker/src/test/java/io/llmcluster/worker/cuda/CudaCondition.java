package io.llmcluster.worker.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** The condition behind {@link RequiresCuda}: CI without a GPU skips, with the probe's reason in the report. */
public final class CudaCondition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        CudaAvailability a = CudaAvailability.probe();
        return a.available()
                ? ConditionEvaluationResult.enabled("CUDA: " + a.device())
                : ConditionEvaluationResult.disabled("CUDA not usable here: " + a.reason());
    }
}
