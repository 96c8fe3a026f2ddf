package dev.livemig.linux;

import dev.livemig.host.HostAssumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/** MSG_ZEROCOPY sends over real loopback sockets: the bytes arrive in order and every report is collected. */
class ZeroCopySocketTest {

    @BeforeEach
    void needsMsgZerocopy() {
        HostAssumptions.assumeMsgZerocopy();
    }

    private static byte[] drain(SocketChannel in, long expected) throws Exception {
        var out = new java.io.ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        while (out.size() < expected) {
            b.clear();
            int n = in.read(b);
            if (n < 0) {
                break;
            }
            out.write(b.array(), 0, n);
        }
        return out.toByteArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void headersAndZeroCopyPagesArriveInOrderAndFlushCollectsEveryReport(String address) throws Exception {
        InetAddress loopback = InetAddress.getByName(address);
        ServerSocketChannel bound;
        try {
            bound = ServerSocketChannel.open().bind(new InetSocketAddress(loopback, 0));
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.abort("host has no " + address + " loopback (IPv6 off?): " + e);
            return;
        }
        {
            try (Arena arena = Arena.ofConfined(); ServerSocketChannel server = bound) {
                // 32 MiB in 256 batches of 32 pages: far more sends than the kernel keeps reports for at once
                int batches = 256;
                int pagesPerBatch = 32;
                MemorySegment ram = arena.allocate((long) batches * pagesPerBatch * 4096, 4096);
                byte[] random = new byte[(int) ram.byteSize()];
                new Random(3).nextBytes(random);
                ram.copyFrom(MemorySegment.ofArray(random));
                MemorySegment header = arena.allocate(16).fill((byte) 0x7e);
                long total = batches * (16 + (long) pagesPerBatch * 4096);

                InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
                try (ZeroCopySocket socket = ZeroCopySocket.connect(at); SocketChannel in = server.accept()) {
                    CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
                        try {
                            return drain(in, total);
                        } catch (Exception e) {
                            throw new RuntimeException(e);
                        }
                    });
                    for (int b = 0; b < batches; b++) {
                        socket.sendAll(List.of(header));
                        List<MemorySegment> pages = new ArrayList<>();
                        for (int p = 0; p < pagesPerBatch; p++) {
                            pages.add(ram.asSlice(((long) b * pagesPerBatch + p) * 4096, 4096));
                        }
                        socket.sendZeroCopy(pages);
                        if (b % 64 == 63) {
                            socket.flush(); // whether the kernel copied (loopback usually does) is its business
                        }
                    }
                    socket.flush();
                    assertFalse(socket.flush(), "nothing sent since the last flush: no copy to report");
                    byte[] got = received.get();
                    assertEquals(total, got.length, loopback.toString());
                    for (int b = 0; b < batches; b++) {
                        int at0 = (int) (b * (16 + (long) pagesPerBatch * 4096));
                        for (int i = 0; i < 16; i++) {
                            assertEquals(0x7e, got[at0 + i]);
                        }
                        assertArrayEquals(java.util.Arrays.copyOfRange(random, b * pagesPerBatch * 4096, (b + 1) * pagesPerBatch * 4096),
                                java.util.Arrays.copyOfRange(got, at0 + 16, at0 + 16 + pagesPerBatch * 4096), "batch " + b);
                    }
                }
            }
        }
    }

    @Test
    void aPeerThatGoesAwayFailsTheSendWithTheCall() throws Exception {
        try (Arena arena = Arena.ofConfined();
             ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            MemorySegment pages = arena.allocate(1 << 20, 4096).fill((byte) 1);
            try (ZeroCopySocket socket = ZeroCopySocket.connect((InetSocketAddress) server.getLocalAddress())) {
                server.accept().close();
                var e = assertThrows(NativeCallException.class, () -> {
                    for (int i = 0; i < 1000; i++) {
                        socket.sendZeroCopy(List.of(pages));
                    }
                });
                assertTrue(e.getMessage().startsWith("sendmsg(MSG_ZEROCOPY) on /127.0.0.1:"), e.getMessage());
            }
        }
    }

    @Test
    void connectingToNothingNamesTheCall() {
        var e = assertThrows(NativeCallException.class, () -> ZeroCopySocket.connect(new InetSocketAddress("127.0.0.1", 1)));
        assertTrue(e.getMessage().startsWith("connect(/127.0.0.1:1) failed"), e.getMessage());
    }
}
