package io.llmcluster.worker.cuda;

/** How a kernel variant's output differs from the reference variant's on the same inputs: largest |a - b|, NaN count. */
record OutputDiff(double maxAbs, int nans) {
    static OutputDiff of(float[] got, float[] ref) {
        double maxAbs = 0;
        int nans = 0;
        for (int i = 0; i < got.length; i++) {
            if (Float.isNaN(got[i])) {
                nans++;
            } else {
                maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
            }
        }
        return new OutputDiff(maxAbs, nans);
    }
}
