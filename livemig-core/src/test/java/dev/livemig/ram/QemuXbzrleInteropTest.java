package dev.livemig.ram;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuSnapshot;
import dev.livemig.savevm.Snapshots;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * XBZRLE against QEMU 7.2 itself: a QEMU guest's memory is changed through the qtest protocol while QEMU
 * migrates it (capability xbzrle, a slow link so that pages are sent again) into a file. Every XBZRLE
 * record in QEMU's stream is decoded by livemig and re-encoded by livemig's encoder to QEMU's exact bytes
 * (QemuSnapshot checks each one), and the whole stream loads into a livemig machine holding exactly the
 * memory QEMU ends with.
 */
@Tag("qemu")
class QemuXbzrleInteropTest {
    private static final long REGION = 0x100000;
    private static final int REGION_BYTES = 2 << 20;
    /** XBZRLE pages QEMU must have sent before the writes stop (unless it converges first). */
    private static final long MIN_DELTAS = 64;

    @TempDir
    Path dir;

    /** qtest's line protocol: one command, one "OK ..." line back. */
    private static final class Qtest implements AutoCloseable {
        private final SocketChannel ch;
        private final ByteBuffer in = ByteBuffer.allocate(4096);

        Qtest(Path socket) throws IOException, InterruptedException {
            ch = connect(socket);
        }

        /** QEMU opens the socket while it starts, before QMP answers; a slow start is waited for, up to 30 s. */
        private static SocketChannel connect(Path socket) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    c.connect(UnixDomainSocketAddress.of(socket));
                    return c;
                } catch (IOException e) {
                    c.close();
                    if (System.nanoTime() > deadline) {
                        throw new IOException("qtest socket " + socket + " not accepting within 30 s", e);
                    }
                    Thread.sleep(20);
                }
            }
        }

        void writeq(long gpa, long value) throws IOException {
            ch.write(ByteBuffer.wrap(("writeq 0x" + Long.toHexString(gpa) + " 0x" + Long.toHexString(value) + "\n")
                    .getBytes(StandardCharsets.US_ASCII)));
            StringBuilder line = new StringBuilder();
            while (line.indexOf("\n") < 0) {
                in.clear();
                if (ch.read(in) < 0) {
                    throw new IOException("qtest closed");
                }
                line.append(new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII));
            }
            if (!line.toString().startsWith("OK")) {
                throw new IOException("qtest refused: " + line);
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    /** query-migrate's count of pages sent as XBZRLE deltas; 0 before it reports any. */
    private static long xbzrlePages(Json.Obj queryMigrate) {
        return queryMigrate.get("xbzrle-cache").map(x -> x.asObject().number("pages")).orElse(0L);
    }

    private static Json.Obj caps(String... names) {
        return Json.object().put("capabilities", new Json.Arr(java.util.Arrays.stream(names)
                .map(n -> (Json) Json.object().put("capability", n).put("state", true).build()).toList())).build();
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(QemuVersion.class)
    void qemusXbzrleStreamDecodesReEncodesAndLoadsExactly(QemuVersion version) throws Exception {
        byte[] image = new byte[REGION_BYTES];
        new Random(11).nextBytes(image);
        Path snap = dir.resolve("xbzrle.snap");
        Path qtestSock = dir.resolve("qtest.sock");
        byte[] finalRegion;
        Json.Obj info;
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version).withImage(REGION, image)
                .withArgs("-qtest", "unix:" + qtestSock + ",server=on,wait=off"));
             Qtest qtest = new Qtest(qtestSock)) {
            qemu.qmp().execute("migrate-set-capabilities", caps("xbzrle", "events", "pause-before-switchover"));
            // slow: several passes, so that pages written again go as deltas
            qemu.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 8L << 20)
                    .put("downtime-limit", 1).build());
            qemu.qmp().execute("migrate", Json.object().put("uri", "exec:cat > '" + snap + "'").build());
            var rnd = new Random(12);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (int n = 0; ; n++) {
                // one long changed per page makes good deltas
                long page = rnd.nextInt(REGION_BYTES / 4096);
                qtest.writeq(REGION + page * 4096 + 8L * rnd.nextInt(512), rnd.nextLong());
                if (n % 64 == 0) {
                    Json.Obj now = (Json.Obj) qemu.qmp().execute("query-migrate");
                    // Writing stops once QEMU has sent pages again as deltas, or has converged on its own:
                    // whether it converges while the writes go on depends on how their pace and QEMU's passes
                    // compare, which is the machine's load; without writes it converges at once.
                    if (now.string("status").equals("pre-switchover") || xbzrlePages(now) >= MIN_DELTAS) {
                        break;
                    }
                    assertTrue(List.of("setup", "active").contains(now.string("status")), now.toString());
                    assertTrue(System.nanoTime() < deadline, "QEMU sent too few XBZRLE pages within 60 s: " + now);
                }
            }
            // held before the final sync: every write so far will be in the stream
            qemu.waitForMigration("pre-switchover", Duration.ofSeconds(60));
            qemu.qmp().execute("migrate-continue", Json.object().put("state", "pre-switchover").build());
            info = qemu.waitForMigration(Duration.ofSeconds(60));
            finalRegion = qemu.readGuestMemory(REGION, REGION_BYTES);
        }
        Json.Obj x = info.get("xbzrle-cache").orElseThrow(() -> new AssertionError("no xbzrle stats: " + info)).asObject();
        assertTrue(x.number("pages") > 0 && x.number("bytes") > 0, "QEMU sent XBZRLE records: " + x);

        QemuSnapshot parsed = QemuSnapshot.parse(Files.readAllBytes(snap));
        assertTrue(parsed.xbzrleRecords() > 0, "livemig re-encoded every one of QEMU's deltas identically");
        assertArrayEquals(finalRegion, parsed.ramBytes("pc.ram", REGION, REGION_BYTES), "the test reader agrees with QEMU");

        try (Machine m = dev.livemig.qemu.QemuMachines.shaped(version, "pc")) {
            Snapshots.load(m, snap); // livemig's loader applies the deltas itself
            RamBlock ram = m.ramBlock("pc.ram").orElseThrow();
            assertEquals(-1, ram.memory().asSlice(REGION, REGION_BYTES).mismatch(MemorySegment.ofArray(finalRegion)));
        }
    }
}
