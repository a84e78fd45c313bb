package io.llmcluster.worker.model;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The Llama-family architectures the engine runs; they differ only in biases and defaults. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2");

    private final String hfClassName;
    private final String modelType;

    Architecture(String hfClassName, String modelType) {
        this.hfClassName = hfClassName;
        this.modelType = modelType;
    }

    public String hfClassName() {
        return hfClassName;
    }

    /** Looks up by the {@code architectures[0]} class name, or by {@code model_type} when that is absent. */
    public static Architecture from(String hfClassName, String modelType) {
        for (Architecture a : values()) {
            if (a.hfClassName.equals(hfClassName) || (hfClassName == null && a.modelType.equals(modelType))) {
                return a;
            }
        }
        String supported = Arrays.stream(values()).map(a -> a.hfClassName).collect(Collectors.joining(", "));
        throw new ModelLoadException("unsupported architecture '" + (hfClassName != null ? hfClassName : modelType)
                + "' in config.json (supported: " + supported + ")");
    }
}
