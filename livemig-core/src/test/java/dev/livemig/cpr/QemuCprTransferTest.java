package dev.livemig.cpr;

import dev.livemig.json.Json;
import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.Machine;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU 10.0 in cpr-transfer mode hands its guest memory over instead of copying it: this test plays the new
 * process. It reads QEMU's CPR state from the cpr channel (each RAM block's memfd, passed by SCM_RIGHTS), closes
 * the channel (QEMU's cue to connect the main channel), and takes the main stream: the block list, no page. The
 * guest's memory is found in the memfd that arrived.
 */
@Tag("qemu")
class QemuCprTransferTest {
    private static final long IMAGE_GPA = 0x100000;

    @TempDir
    Path dir;

    @Test
    void qemuHandsItsGuestMemoryOverAsMemfdsAndItsMainStreamCarriesNoPage() throws Exception {
        byte[] image = new byte[2 << 20];
        new Random(61).nextBytes(image);
        Path stream = dir.resolve("cpr-transfer-main.mig");
        try (QemuProcess q = QemuProcess.start(QemuOptions.paused("pc").on(QemuVersion.V10_0).withImage(IMAGE_GPA, image)
                .withArgs(MEMFD_RAM));
             CprState state = receiveFrom(q, stream)) {
            var names = state.fds().stream().map(CprState.Fd::name).toList();
            assertTrue(names.contains("pc.ram") && names.contains("pc.bios"), "guest RAM and the ROMs (aux-ram-share): " + names);
            CprState.Fd ram = state.find("pc.ram", 0).orElseThrow();
            assertTrue(ram.descriptor().target().startsWith("/memfd:"), ram.descriptor().target());
            assertEquals(32L << 20, ram.descriptor().size());
            // the new process: a machine whose every block is the memory handed over, loading the device state
            try (Arena arena = Arena.ofShared(); Machine m = handedOver(state, arena)) {
                dev.livemig.savevm.StandardSections.of(m).ram().cprTransfer(true);
                dev.livemig.savevm.Snapshots.load(m, stream);
                MemorySegment pcRam = m.ramBlock("pc.ram").orElseThrow().memory();
                assertEquals(-1, pcRam.asSlice(IMAGE_GPA, image.length).mismatch(MemorySegment.ofArray(image)),
                        "the memfd QEMU passed is its guest's memory, now the livemig machine's RAM");
            }
        }
        assertTrue(Files.size(stream) < 1 << 20, "the main stream carries no page: " + Files.size(stream));
        // livemig analyze of QEMU's CPR state as it came (its descriptors aside): the blocks it handed over
        Path cprCapture = stream.resolveSibling(stream.getFileName() + ".cpr");
        assertTrue(dev.livemig.analyze.CprStateDump.isCprState(cprCapture));
        Json.Obj cprDump = dev.livemig.analyze.CprStateDump.dump(cprCapture);
        assertTrue(cprDump.get("fds").orElseThrow().asArray().stream().anyMatch(f -> f.asObject().string("name").equals("pc.ram")
                && f.asObject().number("id") == 0), cprDump.toString());
        Json.Obj stats = dev.livemig.analyze.StreamDump.stats(stream);
        Json.Obj ram = stats.get("ram").orElseThrow().asObject();
        assertTrue(ram.members().stream().allMatch(m -> m.value().asObject().number("normal-pages") == 0), stats.toString());
        Json.Obj sizes = dev.livemig.analyze.StreamDump.state(stream, false).members().stream()
                .filter(m -> m.name().startsWith("ram ("))
                .map(m -> m.value().asObject().get("section sizes").orElseThrow().asObject()).findFirst().orElseThrow();
        assertEquals("0x0000000002000000", sizes.string("pc.ram"), sizes.toString());
    }

    /**
     * The relay proof of the issue: QEMU 10.0 cpr-transfers into livemig, which hands the very memory it received and
     * QEMU's device state on to a new QEMU 10.0 by cpr-transfer of its own (its CPR state writer, its half of the
     * handshake). The new QEMU's guest memory is the first one's, and it is the same memory, not a copy: a write
     * through livemig's mapping shows in the new QEMU's guest.
     */
    @Test
    void livemigHandsQemusMemoryAndDeviceStateOnToANewQemuWhoseGuestSeesTheSamePages() throws Exception {
        byte[] image = new byte[2 << 20];
        new Random(67).nextBytes(image);
        Path stream = dir.resolve("relay-main.mig");
        Path cpr2 = dir.resolve("cpr2.sock");
        Path main2 = dir.resolve("main2.sock");
        try (QemuProcess first = QemuProcess.start(QemuOptions.paused("pc").on(QemuVersion.V10_0).withImage(IMAGE_GPA, image)
                .withArgs(MEMFD_RAM));
             CprState state = receiveFrom(first, stream);
             Arena arena = Arena.ofShared(); Machine relay = handedOver(state, arena)) {
            // the new QEMU reads its cpr channel before it opens its monitor: it starts while livemig hands over
            var second = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return QemuProcess.start(QemuOptions.incoming("pc", "unix:" + main2).on(QemuVersion.V10_0).withPaused(true)
                            .withArgs(MEMFD_RAM).withArgs("-incoming", dev.livemig.json.JsonWriter.compact(channel("cpr", cpr2))));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            dev.livemig.testing.Await.until("the new QEMU to listen on its cpr channel", () -> Files.exists(cpr2) || second.isDone(),
                    () -> "");
            if (second.isCompletedExceptionally()) {
                second.join(); // its start-up failure, with QEMU's output
            }
            assertTrue(handOverOnceListening(cpr2, relay), "the new QEMU took the CPR state and closed the cpr channel");
            try (var main = java.nio.channels.SocketChannel.open(UnixDomainSocketAddress.of(main2));
                 var in = FileChannel.open(stream)) {
                for (long at = 0; at < in.size(); ) {
                    at += in.transferTo(at, in.size() - at, main); // the device state QEMU sent, as it sent it
                }
            }
            try (QemuProcess q = second.get(60, java.util.concurrent.TimeUnit.SECONDS)) {
                q.waitForMigration(Duration.ofSeconds(60));
                assertArrayEquals(image, q.readGuestMemory(IMAGE_GPA, image.length), "the first QEMU's guest memory");
                MemorySegment pcRam = relay.ramBlock("pc.ram").orElseThrow().memory();
                pcRam.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, IMAGE_GPA, 0x0123456789abcdefL);
                byte[] seen = q.readGuestMemory(IMAGE_GPA, 8);
                assertEquals(0x0123456789abcdefL, java.nio.ByteBuffer.wrap(seen).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(),
                        "a write through livemig's mapping is in the new guest's RAM: the same pages, never copied");
            }
        }
    }

    /** The socket's path exists from QEMU's bind on; its listen comes a moment later (connect: ECONNREFUSED meanwhile). */
    private static boolean handOverOnceListening(Path cpr, Machine relay) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                return CprHandover.handOver(cpr, CprHandover.memoryOf(relay.ramBlocks()), () -> false);
            } catch (dev.livemig.wire.MigrationException e) {
                if (!e.getMessage().contains("ECONNREFUSED") || attempt == 500) {
                    throw e;
                }
                Thread.sleep(10);
            }
        }
    }

    private static final String[] MEMFD_RAM = {"-machine", "aux-ram-share=on", "-object",
            "memory-backend-memfd,id=pc.ram,size=32M,share=on", "-machine", "memory-backend=pc.ram"};

    /** Plays the new process for {@code q}'s cpr-transfer: its CPR state, and its main stream captured into {@code stream}. */
    private CprState receiveFrom(QemuProcess q, Path stream) throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        Path mainPath = dir.resolve("main.sock");
        try (UnixSocket.Server cprListener = UnixSocket.listen(cprPath);
             ServerSocketChannel mainListener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            mainListener.bind(UnixDomainSocketAddress.of(mainPath));
            q.qmp().execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
            q.qmp().execute("migrate", Json.object().put("channels", new Json.Arr(List.of(
                    channel("main", mainPath), channel("cpr", cprPath)))).build());
            CprState state;
            try (UnixSocket cpr = cprListener.accept(20_000);
                 var capture = Files.newOutputStream(stream.resolveSibling(stream.getFileName() + ".cpr"))) {
                state = CprStateReader.receive(cpr, capture);
            } // closing it is QEMU's cue: the new process listens on the main channel now
            try (var main = mainListener.accept(); var out = FileChannel.open(stream, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                out.transferFrom(main, 0, Long.MAX_VALUE);
            }
            assertEquals("completed", q.waitForMigration(Duration.ofSeconds(60)).string("status"));
            return state;
        }
    }

    /** A pc shaped as QEMU's whose every RAM block maps the descriptor of its name (id 0) in {@code state}. */
    private static Machine handedOver(CprState state, Arena arena) throws Exception {
        Machine.Builder b = Machine.builder(QemuVersion.V10_0.machineType("pc"));
        for (var block : dev.livemig.qemu.QemuMachines.BLOCKS) {
            CprState.Fd fd = state.find(block.getKey(), 0).orElseThrow(() -> new AssertionError("no descriptor for " + block.getKey()));
            b.ram(dev.livemig.machine.RamBlock.handedOver(arena, block.getKey(),
                    dev.livemig.linux.MemoryFile.adopt(fd.descriptor(), block.getKey(), block.getValue()), block.getValue()));
        }
        return b.build();
    }

    private static Json channel(String type, Path path) {
        return Json.object().put("channel-type", type).put("addr", Json.object().put("transport", "socket")
                .put("type", "unix").put("path", path.toString()).build()).build();
    }
}
