package dev.livemig.linux;

import java.nio.channels.SelectableChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * A Java socket channel (a listening {@link ServerSocketChannel} or a connected {@link SocketChannel}) whose
 * descriptor is handed to another process, which continues serving on the same socket: nothing the peers see
 * changes. Reaching the descriptor needs {@link SocketChannelDescriptor#OPTION}.
 */
public record SocketDescriptor(SelectableChannel channel) implements PassableDescriptor {
    public SocketDescriptor {
        if (!(channel instanceof ServerSocketChannel || channel instanceof SocketChannel)) {
            throw new IllegalArgumentException("a socket channel or a server socket channel, not " + channel);
        }
    }

    int descriptor() {
        return SocketChannelDescriptor.of(channel);
    }
}
