package dev.livemig.host;

import dev.livemig.json.Json;
import dev.livemig.linux.Mmap;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * How fast this host backs fresh anonymous memory on first write, in 4 KiB pages and in memory advised for
 * transparent huge pages: the figure that differs most between hosts of one kind (0.3 to 14 GB/s seen) and
 * bounds a destination's speed for pages it has not faulted in. Reported with benchmark results so that
 * figures from different hosts can be compared.
 */
public record FirstTouch(long bytes, long smallMibPerSecond, long hugeMibPerSecond) {

    public static FirstTouch measure(long bytes) {
        return new FirstTouch(bytes, touch(bytes, false), touch(bytes, true));
    }

    private static long touch(long bytes, boolean huge) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = huge ? Mmap.anonymous(arena, bytes, Mmap.HUGE_PAGE_SIZE) : Mmap.anonymous(arena, bytes);
            if (huge) {
                Mmap.adviseHugePages(m);
            }
            long t0 = System.nanoTime();
            for (long off = 0; off < bytes; off += 4096) {
                m.set(ValueLayout.JAVA_BYTE, off, (byte) 1);
            }
            long ns = Math.max(1, System.nanoTime() - t0);
            return (long) (bytes / 1048576.0 / (ns / 1e9));
        }
    }

    public Json.Obj toJson() {
        return Json.object().put("bytes", bytes).put("mib_per_s", smallMibPerSecond)
                .put("huge_mib_per_s", hugeMibPerSecond).build();
    }
}
