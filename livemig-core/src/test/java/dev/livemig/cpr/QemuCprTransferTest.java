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
        Path cprPath = dir.resolve("cpr.sock");
        Path mainPath = dir.resolve("main.sock");
        Path stream = dir.resolve("cpr-transfer-main.mig");
        try (QemuProcess q = QemuProcess.start(QemuOptions.paused("pc").on(QemuVersion.V10_0).withImage(IMAGE_GPA, image)
                .withArgs("-machine", "aux-ram-share=on", "-object", "memory-backend-memfd,id=pc.ram,size=32M,share=on",
                        "-machine", "memory-backend=pc.ram"));
             UnixSocket.Server cprListener = UnixSocket.listen(cprPath);
             ServerSocketChannel mainListener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            mainListener.bind(UnixDomainSocketAddress.of(mainPath));
            q.qmp().execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
            q.qmp().execute("migrate", Json.object().put("channels", new Json.Arr(List.of(
                    channel("main", mainPath), channel("cpr", cprPath)))).build());
            CprState state;
            try (UnixSocket cpr = cprListener.accept(20_000)) {
                state = CprStateReader.receive(cpr);
            } // closing it is QEMU's cue: the new process listens on the main channel now
            try (state) {
                var names = state.fds().stream().map(CprState.Fd::name).toList();
                assertTrue(names.contains("pc.ram") && names.contains("pc.bios"), "guest RAM and the ROMs (aux-ram-share): " + names);
                CprState.Fd ram = state.find("pc.ram", 0).orElseThrow();
                assertTrue(ram.descriptor().target().startsWith("/memfd:"), ram.descriptor().target());
                assertEquals(32L << 20, ram.descriptor().size());
                try (var main = mainListener.accept(); var out = FileChannel.open(stream, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                    out.transferFrom(main, 0, Long.MAX_VALUE);
                }
                assertEquals("completed", q.waitForMigration(Duration.ofSeconds(60)).string("status"));
                // the new process: a machine whose every block is the memory handed over, loading the device state
                try (Arena arena = Arena.ofShared(); Machine m = handedOver(state, arena)) {
                    dev.livemig.savevm.StandardSections.of(m).ram().cprTransferIncoming(true);
                    dev.livemig.savevm.Snapshots.load(m, stream);
                    MemorySegment pcRam = m.ramBlock("pc.ram").orElseThrow().memory();
                    assertEquals(-1, pcRam.asSlice(IMAGE_GPA, image.length).mismatch(MemorySegment.ofArray(image)),
                            "the memfd QEMU passed is its guest's memory, now the livemig machine's RAM");
                }
            }
        }
        assertTrue(Files.size(stream) < 1 << 20, "the main stream carries no page: " + Files.size(stream));
        Json.Obj stats = dev.livemig.analyze.StreamDump.stats(stream);
        Json.Obj ram = stats.get("ram").orElseThrow().asObject();
        assertTrue(ram.members().stream().allMatch(m -> m.value().asObject().number("normal-pages") == 0), stats.toString());
        Json.Obj sizes = dev.livemig.analyze.StreamDump.state(stream, false).members().stream()
                .filter(m -> m.name().startsWith("ram ("))
                .map(m -> m.value().asObject().get("section sizes").orElseThrow().asObject()).findFirst().orElseThrow();
        assertEquals("0x0000000002000000", sizes.string("pc.ram"), sizes.toString());
    }

    /** A pc shaped as QEMU's whose every RAM block maps the descriptor of its name (id 0) in {@code state}. */
    private static Machine handedOver(CprState state, Arena arena) throws Exception {
        Machine.Builder b = Machine.builder(QemuVersion.V10_0.machineType("pc"));
        for (var block : dev.livemig.qemu.QemuMachines.BLOCKS) {
            CprState.Fd fd = state.find(block.getKey(), 0).orElseThrow(() -> new AssertionError("no descriptor for " + block.getKey()));
            try (FileChannel memory = fd.descriptor().openFile()) {
                b.ram(dev.livemig.machine.RamBlock.handedOver(arena, block.getKey(), memory, block.getValue()));
            }
        }
        return b.build();
    }

    private static Json channel(String type, Path path) {
        return Json.object().put("channel-type", type).put("addr", Json.object().put("transport", "socket")
                .put("type", "unix").put("path", path.toString()).build()).build();
    }
}
