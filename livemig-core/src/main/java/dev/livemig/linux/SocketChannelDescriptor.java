package dev.livemig.linux;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.channels.SocketChannel;

/**
 * The descriptor behind a Java socket channel, which Java keeps to itself: reached through the JDK's internal
 * {@code sun.nio.ch.SelChImpl#getFDVal}, which the JVM must open to livemig with
 * {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED} (or {@code =dev.livemig.core} on the module path; the
 * {@code livemig} launcher and the build's tests pass it). A postcopy destination hands the migration stream's
 * descriptor to its page server with it.
 */
public final class SocketChannelDescriptor {
    /** The option that makes {@link #of} work, for messages. */
    public static final String OPTION = "--add-opens java.base/sun.nio.ch=ALL-UNNAMED";

    private SocketChannelDescriptor() {
    }

    /** Whether this JVM lets livemig reach a socket channel's descriptor. */
    public static boolean available() {
        return method() != null;
    }

    /**
     * The descriptor of {@code channel} (still owned by it).
     *
     * @throws UnsupportedOperationException naming {@link #OPTION} when the JVM was not started with it
     */
    static int of(java.nio.channels.SelectableChannel channel) {
        Method m = method();
        if (m == null) {
            throw new UnsupportedOperationException("livemig cannot reach a socket's descriptor in this JVM: start it with " + OPTION);
        }
        try {
            return (int) m.invoke(channel);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("sun.nio.ch.SelChImpl#getFDVal failed", e);
        }
    }

    private static Method method() {
        try {
            Method m = Class.forName("sun.nio.ch.SelChImpl").getMethod("getFDVal");
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) { // InaccessibleObjectException without the option
            return null;
        }
    }
}
