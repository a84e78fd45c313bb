package io.llmcluster.worker.cuda;

/** A CUDA driver, cuBLAS or setup failure, with the call that failed and the error's name in the message. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
