package dev.livemig.cpr;

import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.HandedOver;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes a CPR state ({@link CprState}, §16.2) as the old process of a cpr-transfer does: the bytes QEMU writes, each
 * fd field's byte sent alone with its descriptor (SCM_RIGHTS) once the bytes before it are out, so that the reader
 * finds each descriptor with its own byte; then the write side is shut down (the reader sees the end, and the
 * writer can still see the reader close: the HUP that says the new process listens).
 */
public final class CprStateWriter {
    private CprStateWriter() {
    }

    /** Sends the state of {@code entries} on {@code channel} and shuts its write side down. */
    public static void send(UnixSocket channel, List<HandedOver> entries) throws IOException {
        if (entries.size() > CprStateReader.MAX_ENTRIES) {
            throw new IllegalArgumentException("more than " + CprStateReader.MAX_ENTRIES + " descriptors in one CPR state: " + entries.size());
        }
        var pending = new ByteArrayOutputStream();
        be32(pending, CprState.MAGIC);
        be32(pending, CprState.VERSION);
        for (HandedOver e : entries) {
            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
            pending.write(1);
            be32(pending, name.length + 1);
            pending.write(name, 0, name.length);
            pending.write(0);
            be32(pending, e.id());
            channel.write(pending.toByteArray());
            pending.reset();
            channel.sendDescriptor(e.descriptor(), CprState.FD_MARKER);
        }
        pending.write(0);
        channel.write(pending.toByteArray());
        channel.shutdownOutput();
    }

    private static void be32(ByteArrayOutputStream out, int v) {
        out.write(v >>> 24);
        out.write(v >>> 16);
        out.write(v >>> 8);
        out.write(v);
    }
}
