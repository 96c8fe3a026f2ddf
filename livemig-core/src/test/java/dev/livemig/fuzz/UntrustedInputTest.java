package dev.livemig.fuzz;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UntrustedInputTest {
    @Test
    void theDocumentedExceptionIsAnAnswer() {
        var refused = UntrustedInput.parse(MigrationException.class, () -> {
            throw new MigrationException("bad input");
        });
        assertEquals("bad input", refused.getMessage());
    }

    @Test
    void aParseThatSucceedsReturnsNothing() {
        assertNull(UntrustedInput.parse(MigrationException.class, () -> { }));
    }

    @Test
    void aRuntimeExceptionIsAFinding() {
        assertThrows(ArrayIndexOutOfBoundsException.class, () -> UntrustedInput.parse(MigrationException.class, () -> {
            throw new ArrayIndexOutOfBoundsException(3);
        }));
    }

    @Test
    void anotherCheckedExceptionIsAFinding() {
        var e = assertThrows(AssertionError.class, () -> UntrustedInput.parse(MigrationException.class, () -> {
            throw new IOException("not documented here");
        }));
        assertTrue(e.getMessage().contains("java.io.IOException"), e.getMessage());
    }

    @Test
    void anAllocationOverTheBudgetIsAFindingEvenWhenTheHeapHoldsIt() {
        var e = assertThrows(AssertionError.class, () -> UntrustedInput.parse(MigrationException.class, () -> {
            byte[][] held = new byte[4][];
            for (int i = 0; i < held.length; i++) {
                held[i] = new byte[(int) (UntrustedInput.ALLOCATION_BUDGET / 3)];
            }
            throw new MigrationException("refused after allocating " + held.length + " arrays");
        }));
        assertTrue(e.getMessage().startsWith("one input allocated"), e.getMessage());
    }
}
