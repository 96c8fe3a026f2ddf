package dev.livemig.ram;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The "ram" section grammar every reader shares: one kind per word, CONTINUE, bounded payload lengths. */
class RamRecordsTest {
    private interface Body {
        void write(StreamWriter out) throws MigrationException;
    }

    private static StreamReader stream(Body body) throws MigrationException {
        var bytes = new ByteArrayOutputStream();
        var out = new StreamWriter(Channels.newChannel(bytes));
        body.write(out);
        out.flush();
        return StreamReader.of(bytes.toByteArray());
    }

    private static RamRecord next(RamRecords records, StreamReader in) throws MigrationException {
        return records.next(in, RamBlockList.Admission.ANY, RamBlockList.EntryReader.NONE);
    }

    @Test
    void aSectionReadsAsTypedRecordsWithContinueResolvedToTheSameName() throws Exception {
        var in = stream(out -> {
            out.be64(0x2000 | RamFlags.MEM_SIZE).str8("pc.ram").be64(0x2000);
            out.be64(RamFlags.PAGE).str8("pc.ram").bytes(new byte[4096]);
            out.be64(0x1000 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
            out.be64(RamFlags.MULTIFD_FLUSH);
            out.be64(RamFlags.EOS);
        });
        var records = new RamRecords();
        assertEquals(new RamRecord.BlockList(0, List.of(new RamBlockList.Entry("pc.ram", 0x2000))), next(records, in));
        var page = assertInstanceOf(RamRecord.Page.class, next(records, in));
        assertEquals(0, page.offset());
        in.skip(4096); // the page's data is the consumer's to read
        var zero = assertInstanceOf(RamRecord.Zero.class, next(records, in));
        assertSame(page.block(), zero.block(), "CONTINUE hands back the very name the page record read");
        assertEquals(0x1000, zero.offset());
        assertInstanceOf(RamRecord.MultifdFlush.class, next(records, in));
        assertInstanceOf(RamRecord.End.class, next(records, in));
    }

    @Test
    void theBlockNamedLastCarriesOverToTheSectionsNextPart() throws Exception {
        var records = new RamRecords();
        var first = stream(out -> out.be64(RamFlags.ZERO).str8("a").u8(0).be64(RamFlags.EOS));
        next(records, first);
        next(records, first);
        var second = stream(out -> out.be64(0x1000 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0));
        assertEquals("a", assertInstanceOf(RamRecord.Zero.class, next(records, second)).block());
    }

    @Test
    void whatQemusLoaderRefusesIsRefusedAtTheRecordsOffset() throws Exception {
        List<Body> refused = List.of(
                out -> out.be64(RamFlags.ZERO | RamFlags.CONTINUE).u8(0),                    // CONTINUE before any block
                out -> out.be64(RamFlags.ZERO | RamFlags.PAGE).str8("a"),                      // two kinds in one word
                out -> out.be64(RamFlags.MEM_SIZE | RamFlags.EOS),                             // two kinds in one word
                out -> out.be64(RamFlags.HOOK),                                                // RDMA's hook
                out -> out.be64(RamFlags.COMPRESS_PAGE).str8("a").be32(CompressedPage.MAX_LENGTH + 1),
                out -> out.be64(RamFlags.COMPRESS_PAGE).str8("a").be32(-1),
                out -> out.be64(RamFlags.XBZRLE).str8("a").u8(2).be16(10),                     // unknown encoding
                out -> out.be64(RamFlags.XBZRLE).str8("a").u8(RamFlags.ENCODING_XBZRLE).be16(4097));
        for (Body body : refused) {
            var e = assertThrows(MigrationException.class, () -> next(new RamRecords(), stream(body)));
            assertEquals(0, e.offset(), e.getMessage());
        }
    }
}
