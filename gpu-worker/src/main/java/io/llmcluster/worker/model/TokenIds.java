package io.llmcluster.worker.model;

import com.fasterxml.jackson.databind.JsonNode;

/** Token-id fields in Hugging Face JSON files are either one integer or a list of them. */
final class TokenIds {
    private TokenIds() {}

    static int[] fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return new int[0];
        }
        if (node.canConvertToInt()) {
            return new int[] {node.asInt()};
        }
        if (node.isArray()) {
            int[] ids = new int[node.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = node.get(i).asInt();
            }
            return ids;
        }
        throw new ModelLoadException("expected a token id or a list of token ids, got " + node);
    }
}
