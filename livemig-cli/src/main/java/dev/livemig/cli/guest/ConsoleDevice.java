package dev.livemig.cli.guest;

import dev.livemig.vmstate.VmStateDescription;

import java.nio.charset.StandardCharsets;

/** The demo guest's console: a text buffer the guest appends lines to (oldest lines dropped when full). */
public final class ConsoleDevice {
    public static final int CAPACITY = 4096;

    private byte[] text = new byte[0];
    private long lines;
    private long length; // as received; checked against CAPACITY by the codec before the text is read

    public static final VmStateDescription<ConsoleDevice> DESCRIPTION = VmStateDescription.<ConsoleDevice>builder("console")
            .version(1).minimumVersion(1)
            .uint32("lines", c -> c.lines, (c, v) -> c.lines = v)
            .uint32("length", c -> c.text.length, (c, v) -> c.length = v)
            .vbuffer("text", c -> c.length, CAPACITY, c -> c.text, (c, b) -> c.text = b)
            .build();

    public synchronized void println(String line) {
        byte[] add = (line + "\n").getBytes(StandardCharsets.UTF_8);
        int keep = Math.max(0, Math.min(text.length, CAPACITY - add.length));
        byte[] next = new byte[keep + Math.min(add.length, CAPACITY)];
        System.arraycopy(text, text.length - keep, next, 0, keep);
        System.arraycopy(add, 0, next, keep, next.length - keep);
        text = next;
        length = next.length;
        lines++;
    }

    public synchronized String text() {
        return new String(text, StandardCharsets.UTF_8);
    }

    public synchronized long lines() {
        return lines;
    }
}
