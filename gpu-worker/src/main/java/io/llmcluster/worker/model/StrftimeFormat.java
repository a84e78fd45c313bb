package io.llmcluster.worker.model;

/** Translates the Python {@code strftime} directives chat templates use into a {@link java.time.format.DateTimeFormatter} pattern. */
final class StrftimeFormat {
    private StrftimeFormat() {}

    static String toJavaPattern(String python) {
        StringBuilder out = new StringBuilder();
        StringBuilder literal = new StringBuilder();
        for (int i = 0; i < python.length(); i++) {
            char c = python.charAt(i);
            if (c == '%' && i + 1 < python.length()) {
                String field = field(python.charAt(++i));
                if (field != null) {
                    flush(literal, out);
                    out.append(field);
                    continue;
                }
                literal.append(python.charAt(i) == '%' ? "%" : "%" + python.charAt(i));
                continue;
            }
            literal.append(c);
        }
        flush(literal, out);
        return out.toString();
    }

    private static String field(char directive) {
        return switch (directive) {
            case 'd' -> "dd";
            case 'm' -> "MM";
            case 'Y' -> "yyyy";
            case 'y' -> "yy";
            case 'b' -> "MMM";
            case 'B' -> "MMMM";
            case 'a' -> "EEE";
            case 'A' -> "EEEE";
            case 'H' -> "HH";
            case 'I' -> "hh";
            case 'M' -> "mm";
            case 'S' -> "ss";
            case 'p' -> "a";
            case 'j' -> "DDD";
            default -> null;
        };
    }

    private static void flush(StringBuilder literal, StringBuilder out) {
        if (!literal.isEmpty()) {
            out.append('\'').append(literal.toString().replace("'", "''")).append('\'');
            literal.setLength(0);
        }
    }
}
