package dev.livemig.cli;

import picocli.CommandLine;

/** Parses sizes like QEMU's -m: a number with an optional K, M, G or T suffix (powers of 1024). */
final class Sizes implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        return parse(value);
    }

    static long parse(String value) {
        String v = value.trim().toUpperCase();
        long unit = 1;
        char last = v.isEmpty() ? ' ' : v.charAt(v.length() - 1);
        switch (last) {
            case 'K' -> unit = 1L << 10;
            case 'M' -> unit = 1L << 20;
            case 'G' -> unit = 1L << 30;
            case 'T' -> unit = 1L << 40;
            default -> {
            }
        }
        String digits = unit == 1 ? v : v.substring(0, v.length() - 1);
        try {
            long n = Long.parseLong(digits);
            if (n < 0 || n > Long.MAX_VALUE / unit) {
                throw new CommandLine.TypeConversionException("size out of range: " + value);
            }
            return n * unit;
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("not a size (e.g. 1G, 512M, 4096): " + value);
        }
    }

    static String human(long bytes) {
        if (bytes >= 1L << 30 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + " GiB";
        }
        if (bytes >= 1L << 20) {
            return String.format("%.1f MiB", bytes / 1048576.0);
        }
        return bytes + " B";
    }
}
