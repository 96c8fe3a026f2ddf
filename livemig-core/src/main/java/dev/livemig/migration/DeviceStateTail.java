package dev.livemig.migration;

import dev.livemig.savevm.DescribedDevices;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.WireFormat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The non-iterative part of a recorded stream (device sections, EOF, vmdescription), kept verbatim without
 * being parsed. A source with a return path keeps its connection open after its last byte until SHUT comes
 * back, so the recorder cannot wait for the end of the stream: {@link #endsWithTrailer} recognises the last
 * byte instead, as the end of a vmdescription trailer: EOF (0), type 6, be32 length, then exactly that many
 * bytes of a JSON object with a "devices" array. The JSON holds no NUL, so the trailer's type byte is at most
 * one past the last NUL seen and at most four before it (the length field holds the last NUL when below 16 MiB).
 */
final class DeviceStateTail extends ByteArrayOutputStream {
    private int lastNul = -1;

    @Override
    public synchronized void write(int b) {
        if ((b & 0xff) == 0) {
            lastNul = count;
        }
        super.write(b);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        for (int i = len - 1; i >= 0; i--) {
            if (b[off + i] == 0) {
                lastNul = count + i;
                break;
            }
        }
        super.write(b, off, len);
    }

    /** True when the bytes so far end with a complete vmdescription trailer that parses. */
    synchronized boolean endsWithTrailer() {
        if (count == 0 || buf[count - 1] != '}' || lastNul < 0) {
            return false;
        }
        for (int type = Math.max(1, lastNul - 4); type <= lastNul + 1; type++) {
            int json = type + 5;
            if (json >= count || buf[type - 1] != WireFormat.EOF || (buf[type] & 0xff) != WireFormat.VMDESCRIPTION
                    || buf[json] != '{') {
                continue;
            }
            long length = ((buf[type + 1] & 0xffL) << 24) | ((buf[type + 2] & 0xff) << 16) | ((buf[type + 3] & 0xff) << 8)
                    | (buf[type + 4] & 0xff);
            if (json + length != count) {
                continue;
            }
            try {
                DescribedDevices.fromJson(new String(buf, json, count - json, StandardCharsets.US_ASCII));
                return true;
            } catch (MigrationException | RuntimeException e) {
                // device bytes that happen to look like a trailer: not the end yet
            }
        }
        return false;
    }
}
