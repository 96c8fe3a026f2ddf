package dev.livemig.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.TimeUnit;

/**
 * A migration channel to a command run through {@code /bin/sh -c} (exec:), carrying both directions as QEMU's
 * exec transport does (format reference §11.1): writes go to the command's stdin, reads come from its stdout.
 * On the source, stdout is the return path; on the destination, stdout is the stream and stdin the return path.
 * stderr is inherited.
 *
 * <p>A command that exits non-zero is reported with its status wherever that is noticed: at the end of its
 * output, when a write fails, and on {@link #close()}, which ends both pipes and waits a bounded time for the
 * exit (then kills the command). One thread may read while another writes; {@link #close()} must not race
 * with either.
 */
final class ExecMigrationChannel implements MigrationChannel {
    private static final long EXIT_WAIT_SECONDS = 30;
    /** How long the end of output or a broken pipe waits for the command's status before reporting without it. */
    private static final long STATUS_GRACE_MILLIS = 2000;

    private final Process process;
    private final String command;
    private final String description;
    private final ReadableByteChannel in;
    private final WritableByteChannel out;
    private boolean open = true;

    private ExecMigrationChannel(Process process, String command, String description) {
        this.process = process;
        this.command = command;
        this.description = description;
        this.in = Channels.newChannel(process.getInputStream());
        this.out = Channels.newChannel(process.getOutputStream());
    }

    static ExecMigrationChannel start(MigrationUri.Exec exec) throws IOException {
        Process p = new ProcessBuilder("/bin/sh", "-c", exec.command())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        return new ExecMigrationChannel(p, exec.command(), exec.toString());
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        int n;
        try {
            n = in.read(dst);
        } catch (IOException e) {
            throw withStatus(e);
        }
        if (n < 0) {
            // the output ended: a failed command must not look like a short but clean stream
            Integer status = exitStatus(STATUS_GRACE_MILLIS);
            if (status != null && status != 0) {
                throw new IOException(failure(status));
            }
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        try {
            return out.write(src);
        } catch (IOException e) {
            throw withStatus(e);
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return MigrationChannel.writeEach(this, srcs, offset, length);
    }

    /** Closes the command's stdin: it sees the end of its input and can still answer on stdout. */
    @Override
    public void shutdownOutput() throws IOException {
        out.close();
    }

    @Override
    public boolean isBidirectional() {
        return true;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() throws IOException {
        if (!open) {
            return;
        }
        open = false;
        try {
            out.close();
            // also closing stdout: a command still writing gets EPIPE and exits instead of blocking forever
            in.close();
            if (!process.waitFor(EXIT_WAIT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("command did not exit within " + EXIT_WAIT_SECONDS + " s and was killed: " + command);
            }
            if (process.exitValue() != 0) {
                throw new IOException(failure(process.exitValue()));
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for " + command, e);
        }
    }

    private IOException withStatus(IOException e) {
        Integer status = exitStatus(STATUS_GRACE_MILLIS);
        return status != null && status != 0 ? new IOException(failure(status) + " (" + e.getMessage() + ")", e) : e;
    }

    /** The exit status if the command ends within {@code millis}, else null. */
    private Integer exitStatus(long millis) {
        try {
            return process.waitFor(millis, TimeUnit.MILLISECONDS) ? process.exitValue() : null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private String failure(int status) {
        return "command exited with status " + status + ": " + command;
    }
}
