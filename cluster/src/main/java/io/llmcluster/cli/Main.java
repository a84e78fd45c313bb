package io.llmcluster.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code llmc} command line. */
@Command(name = "llmc", mixinStandardHelpOptions = true, version = "llmcluster 0.1.0",
        description = "Serve and run Llama-family models on CPUs and NVIDIA GPUs.",
        subcommands = {ServeCommand.class, GenerateCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The parser with the project's error handling: a clear one-line message, never a stack trace. */
    public static CommandLine commandLine() {
        return new CommandLine(new Main()).setExecutionExceptionHandler(new CliErrors());
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required (try 'serve --help' or 'generate --help')");
    }
}
