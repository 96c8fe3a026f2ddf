package dev.livemig.migration;

import dev.livemig.ram.PageRequests;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamReader;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The source's reader of the return path (§11.3): a thread named livemig-rp-src that reads messages until
 * SHUT, the end of the channel or an error, and records what the migration thread waits for (the switchover
 * ack, the destination's SHUT status).
 */
final class SourceReturnPath {
    private final StreamReader in;
    private final Thread thread;
    private final CountDownLatch shut = new CountDownLatch(1);
    private final CountDownLatch switchoverAck = new CountDownLatch(1);
    private volatile long shutStatus = -1; // QEMU's status is a be32 taken as unsigned: -1 is none yet
    private volatile long lastPong = -1;
    private volatile String failure;
    private final java.util.Set<Long> pongs = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final PageRequests requests; // postcopy-ram; null: a page request is unexpected
    /** Postcopy recovery: per RAM block, the received-bitmap bytes expected (§11.4); empty otherwise. */
    private volatile java.util.Map<String, Long> bitmapBytes = java.util.Map.of();
    private final java.util.Map<String, byte[]> bitmaps = new java.util.concurrent.ConcurrentHashMap<>();
    private final CountDownLatch resumeAck = new CountDownLatch(1);

    SourceReturnPath(MigrationChannel channel) {
        this(channel, null);
    }

    /** {@code requests}: where postcopy page requests go (capability postcopy-ram), or null. */
    SourceReturnPath(MigrationChannel channel, PageRequests requests) {
        this.requests = requests;
        this.in = new StreamReader(channel, 4096);
        in.section("return-path");
        this.thread = Thread.ofPlatform().name("livemig-rp-src").daemon().unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    private void run() {
        try {
            while (true) {
                switch (ReturnPathCodec.read(in)) {
                    case ReturnPathMessage.Shut s -> {
                        shutStatus = Integer.toUnsignedLong(s.status());
                        return;
                    }
                    case ReturnPathMessage.Pong p -> {
                        lastPong = p.value() & 0xffff_ffffL;
                        pongs.add(lastPong);
                    }
                    case ReturnPathMessage.SwitchoverAck ack -> switchoverAck.countDown();
                    case ReturnPathMessage.RecvBitmap b when bitmapBytes.containsKey(b.block()) -> readBitmap(b.block());
                    case ReturnPathMessage.ResumeAck a when !bitmapBytes.isEmpty() -> resumeAck.countDown();
                    case ReturnPathMessage.ReqPagesId r when requests != null -> requests.add(r);
                    case ReturnPathMessage.ReqPages r when requests != null -> requests.add(r);
                    case ReturnPathMessage other -> {
                        failure = "unexpected return-path message" + (requests == null ? " in precopy: " : ": ") + other;
                        return;
                    }
                }
            }
        } catch (MigrationException e) {
            failure = "return path: " + e.getMessage();
        } finally {
            shut.countDown();
            switchoverAck.countDown(); // release a waiting switchover; it re-checks why
            resumeAck.countDown();
        }
    }

    /**
     * A recovery's return path: RECV_BITMAP answers are expected for these blocks, {@code bytes} each (QEMU's size:
     * one bit per target page, in 64-bit words); set before {@link #start}.
     */
    void expectBitmaps(java.util.Map<String, Long> bytes) {
        this.bitmapBytes = java.util.Map.copyOf(bytes);
    }

    /** The bitmap that follows RP RECV_BITMAP outside the message (§11.4), checked against what the block needs. */
    private void readBitmap(String block) throws MigrationException {
        long size = in.be64();
        long expected = bitmapBytes.get(block);
        if (size != expected) {
            throw in.error("received bitmap of block " + block + ": " + size + " bytes, expected " + expected);
        }
        byte[] bits = in.bytes((int) size);
        long end = in.be64();
        if (end != 0x0123456789abcdefL) {
            throw in.error(String.format("received bitmap of block %s: end marker 0x%x", block, end));
        }
        bitmaps.put(block, bits);
    }

    /** The received bitmaps so far, by block (little-endian 64-bit words: page i is bit i % 8 of byte i / 8). */
    java.util.Map<String, byte[]> bitmaps() {
        return java.util.Map.copyOf(bitmaps);
    }

    /** Waits up to {@code timeoutMs} for RESUME_ACK; false when the path ended or the time passed without one. */
    boolean awaitResumeAck(long timeoutMs) throws InterruptedException {
        return resumeAck.await(timeoutMs, TimeUnit.MILLISECONDS) && failure == null && shutStatus < 0;
    }

    /** Waits up to {@code timeoutMs} for the destination's SHUT; returns its status (unsigned), or -1 if none came. */
    long awaitShut(long timeoutMs) throws InterruptedException {
        shut.await(timeoutMs, TimeUnit.MILLISECONDS);
        return shutStatus;
    }

    boolean switchoverAcked() {
        return switchoverAck.getCount() == 0 && failure == null && shutStatus < 0;
    }

    /** Waits for the ack; false when the path ended without one. */
    boolean awaitSwitchoverAck(long timeoutMs) throws InterruptedException {
        switchoverAck.await(timeoutMs, TimeUnit.MILLISECONDS);
        return switchoverAcked();
    }

    String failure() {
        return failure;
    }

    /** Whether the destination answered PING({@code value}) (unsigned). */
    boolean ponged(long value) {
        return pongs.contains(value);
    }

    long lastPong() {
        return lastPong;
    }

    void join() throws InterruptedException {
        thread.join(5_000);
    }
}
