package dev.livemig.multifd;

import dev.livemig.json.Json;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.wire.StreamReader;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real QEMU 7.2 and 10.0 migrating with multifd (two channels; compression none, zlib, zstd) into sockets that only
 * record: the channels' bytes parse with livemig's packet codec (initial packets, page headers, SYNC packets),
 * livemig's per-channel decoders undo QEMU's compression, and the pages are exactly the guest memory.
 */
@Tag("qemu")
class QemuMultifdCaptureTest {
    private static final long REGION = 0x100000;
    private static final int REGION_BYTES = 1 << 20;
    private static final Map<String, Long> QEMU_PC_BLOCKS = Map.of("pc.ram", 0x2000000L, "/rom@etc/acpi/tables", 0x20000L,
            "pc.bios", 0x40000L, "pc.rom", 0x20000L, "/rom@etc/table-loader", 0x1000L, "/rom@etc/acpi/rsdp", 0x1000L);

    private static byte[] drain(SocketChannel c) {
        var out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        try (c) {
            while (c.read(b.clear()) >= 0) {
                out.write(b.array(), 0, b.position());
            }
        } catch (java.io.IOException e) {
            // QEMU closed the channel: what came is what we have
        }
        return out.toByteArray();
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> cases() {
        return java.util.Arrays.stream(QemuVersion.values()).flatMap(v -> java.util.stream.Stream.of("none", "zlib", "zstd")
                .map(c -> org.junit.jupiter.params.provider.Arguments.of(v, c)));
    }

    /** 10.0 also puts zero pages inside its packets (no data) and marks its sync points with MULTIFD_FLUSH. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}, {1}")
    @org.junit.jupiter.params.provider.MethodSource("cases")
    void qemusMultifdChannelsParseAndCarryTheGuestsPages(QemuVersion version, String compression) throws Exception {
        byte[] image = new byte[REGION_BYTES];
        new Random(21).nextBytes(image);
        for (int i = 0; i < image.length; i += 5 * 4096) {
            java.util.Arrays.fill(image, i, i + 4096, (byte) 0);
        }
        List<byte[]> captures = new CopyOnWriteArrayList<>();
        List<Thread> readers = new CopyOnWriteArrayList<>();
        try (var server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version).withImage(REGION, image))) {
            Thread acceptor = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 3; i++) {
                    try {
                        SocketChannel c = server.accept();
                        readers.add(Thread.ofPlatform().start(() -> captures.add(drain(c))));
                    } catch (java.io.IOException e) {
                        return;
                    }
                }
            });
            qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                    Json.object().put("capability", "multifd").put("state", true).build()))).build());
            qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", 2).put("max-bandwidth", 1L << 40)
                    .put("multifd-compression", compression).build());
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            qemu.qmp().execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
            qemu.waitForMigration(Duration.ofSeconds(60));
            acceptor.join(10_000);
            for (Thread t : readers) {
                t.join(10_000);
            }
        }
        assertEquals(3, captures.size(), "the main channel and two multifd channels");
        long zeroPages = java.util.stream.IntStream.range(0, REGION_BYTES / 4096)
                .filter(i -> java.util.Arrays.equals(image, i * 4096, i * 4096 + 4096, new byte[4096], 0, 4096)).count();
        // 7.2 sends the zero pages on the main channel, 10.0 inside its packets
        analyzeSeesTheChannelsPages(captures, image, REGION_BYTES / 4096 - (version == QemuVersion.V7_2 ? zeroPages : 0));

        Map<Long, byte[]> pages = new HashMap<>(); // pc.ram offset -> last content seen
        List<Integer> ids = new ArrayList<>();
        int syncs = 0;
        int mains = 0;
        for (byte[] capture : captures) {
            if (capture.length >= 4 && capture[0] == 'Q' && capture[1] == 'E' && capture[2] == 'V' && capture[3] == 'M') {
                mains++;
                continue;
            }
            StreamReader in = StreamReader.of(capture);
            ids.add(MultifdPacket.Initial.read(in, new byte[16], 2).channelId()); // no -uuid: all zero
            int flag = switch (compression) {
                case "zlib" -> MultifdPacket.COMPRESSION_ZLIB;
                case "zstd" -> MultifdPacket.COMPRESSION_ZSTD;
                default -> 0;
            };
            try (var zlib = new ZlibChannelCodec.Decoder(); var zstd = new ZstdChannelCodec.Decoder()) {
                while (!in.atEnd()) {
                    var p = MultifdPacket.Ram.read(in, QEMU_PC_BLOCKS, flag);
                    if (p.isSync()) {
                        syncs++;
                    }
                    List<byte[]> data = new ArrayList<>();
                    if (flag == 0) {
                        for (int i = 0; i < p.normalPages(); i++) {
                            data.add(in.bytes(4096));
                        }
                    } else if (p.normalPages() > 0) {
                        in.readFully(flag == MultifdPacket.COMPRESSION_ZLIB
                                ? java.lang.foreign.MemorySegment.ofArray(zlib.input()).asSlice(0, p.nextPacketSize())
                                : zstd.input().asSlice(0, p.nextPacketSize()));
                        List<java.lang.foreign.MemorySegment> targets = new ArrayList<>();
                        for (int i = 0; i < p.normalPages(); i++) {
                            byte[] b = new byte[4096];
                            data.add(b);
                            targets.add(java.lang.foreign.MemorySegment.ofArray(b));
                        }
                        if (flag == MultifdPacket.COMPRESSION_ZLIB) {
                            zlib.decode(p.nextPacketSize(), targets); // QEMU's stream, livemig's inflater
                        } else {
                            zstd.decode(p.nextPacketSize(), targets);
                        }
                    }
                    for (int i = 0; i < p.normalPages(); i++) {
                        if (p.ramBlock().equals("pc.ram")) {
                            pages.put(p.offsets()[i], data.get(i));
                        }
                    }
                    for (int i = p.normalPages(); i < p.offsets().length; i++) { // 10.0's zero pages
                        if (p.ramBlock().equals("pc.ram")) {
                            pages.put(p.offsets()[i], new byte[4096]);
                        }
                    }
                }
            }
        }
        assertEquals(1, mains);
        assertEquals(List.of(0, 1), ids.stream().sorted().toList());
        assertTrue(syncs >= 2, "a SYNC on each channel at least: " + syncs);
        for (int i = 0; i < REGION_BYTES; i += 4096) {
            byte[] sent = pages.get(REGION + i);
            if (sent == null && version == QemuVersion.V7_2 && i % (5 * 4096) == 0) {
                continue; // 7.2 sends zero pages on the main channel
            }
            assertNotNull(sent, "page 0x" + Long.toHexString(REGION + i) + " went through multifd");
            assertArrayEquals(java.util.Arrays.copyOfRange(image, i, i + 4096), sent, "page 0x" + Long.toHexString(REGION + i));
        }
    }

    /** livemig analyze with the channel captures: the extracted pc.ram holds the image, pages counted as multifd. */
    private void analyzeSeesTheChannelsPages(List<byte[]> captures, byte[] image, long multifdPagesAtLeast) throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("multifd-analyze");
        java.nio.file.Path main = null;
        List<java.nio.file.Path> channels = new ArrayList<>();
        for (byte[] capture : captures) {
            boolean isMain = capture.length >= 4 && capture[0] == 'Q' && capture[1] == 'E' && capture[2] == 'V' && capture[3] == 'M';
            java.nio.file.Path f = dir.resolve(isMain ? "main" : "channel" + channels.size());
            java.nio.file.Files.write(f, capture);
            if (isMain) {
                main = f;
            } else {
                channels.add(f);
            }
        }
        java.nio.file.Path out = java.nio.file.Files.createDirectories(dir.resolve("x"));
        dev.livemig.analyze.StreamDump.extract(main, out, s -> { }, channels);
        byte[] ram = java.nio.file.Files.readAllBytes(out.resolve("pc.ram"));
        assertArrayEquals(image, java.util.Arrays.copyOfRange(ram, (int) REGION, (int) REGION + REGION_BYTES),
                "the extracted pc.ram holds the pages that came over the channels");
        Json.Obj stats = dev.livemig.analyze.StreamDump.stats(main, channels);
        long multifdPages = stats.get("ram").orElseThrow().asObject().get("pc.ram").orElseThrow().asObject().number("multifd-pages");
        assertTrue(multifdPages >= multifdPagesAtLeast, "pages counted per channel, at least " + multifdPagesAtLeast + ": " + stats);
        java.nio.file.Path stream = main;
        var e = assertThrows(dev.livemig.wire.MigrationException.class, // the main stream given as a channel
                () -> dev.livemig.analyze.StreamDump.state(stream, false, List.of(stream)));
        assertTrue(e.getMessage().contains("multifd: received packet magic"), e.getMessage());
    }
}
