package io.llmcluster.cli;

import io.llmcluster.worker.model.ModelLoadException;
import picocli.CommandLine;

/** Turns the failures a user can cause into one line on stderr and exit code 2; anything else is a bug. */
final class CliErrors implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        if (e instanceof ModelLoadException || e instanceof IllegalArgumentException
                || e instanceof io.llmcluster.node.NodeStartException) {
            cmd.getErr().println("error: " + e.getMessage());
            return 2;
        }
        cmd.getErr().println("internal error: " + e);
        e.printStackTrace(cmd.getErr());
        return 1;
    }
}
