package dev.livemig.cli.guest;

import dev.livemig.machine.LiveStateHandler;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

/**
 * A device like a VFIO card: on the destination it needs 500 ms of preparation (its load setup) before it can
 * take its state, and it asks for switchover-ack so that the source does not stop the guest before that
 * preparation is done; with the ack the 500 ms are not part of the downtime. Its state is a serial number and
 * how many times it was migrated.
 */
public final class SlowLoadDevice implements LiveStateHandler {
    public static final String IDSTR = "slowdev";
    public static final long SETUP_MILLIS = 500;
    private static final int MAGIC = 0x534c4f57; // "SLOW"
    // every section body starts with a tag, so the loader knows what follows
    private static final int TAG_NOTHING = 0;
    private static final int TAG_HELLO = 1;
    private static final int TAG_STATE = 2;

    private long serial = 0x1234_5678_9abcL;
    private long migrations;
    private volatile Runnable approve;

    public long migrations() {
        return migrations;
    }

    @Override
    public void saveSetup(StreamWriter out) throws MigrationException {
        out.u8(TAG_HELLO).be32(MAGIC);
    }

    @Override
    public boolean saveIterate(StreamWriter out, long budgetBytes) throws MigrationException {
        out.u8(TAG_NOTHING);
        return true;
    }

    @Override
    public void saveCompletePrecopy(StreamWriter out) throws MigrationException {
        out.u8(TAG_STATE).be64(serial).be64(migrations + 1);
    }

    @Override
    public Pending pendingEstimate() {
        return Pending.NONE;
    }

    @Override
    public boolean switchoverAckNeeded() {
        return true;
    }

    @Override
    public void awaitSwitchoverApproval(Runnable approveSwitchover) {
        this.approve = approveSwitchover;
    }

    @Override
    public void loadSetup() {
        try {
            Thread.sleep(SETUP_MILLIS); // the device's preparation
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Runnable a = approve;
        if (a != null) {
            a.run();
        }
    }

    @Override
    public void loadState(StreamReader in, int versionId) throws MigrationException {
        int tag = in.u8();
        switch (tag) {
            case TAG_NOTHING -> {
            }
            case TAG_HELLO -> {
                int magic = in.be32();
                if (magic != MAGIC) {
                    throw in.error(String.format("slowdev: bad magic 0x%08x", magic));
                }
            }
            case TAG_STATE -> {
                serial = in.be64();
                migrations = in.be64();
            }
            default -> throw in.error("slowdev: unknown tag " + tag);
        }
    }

}
