package dev.livemig.machine;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class MachineTest {
    /** Hooks that note each call in {@code calls}. */
    private static Machine.RunStateHooks recording(List<String> calls) {
        return new Machine.RunStateHooks() {
            @Override
            public void pause() {
                calls.add("pause");
            }

            @Override
            public void resume() {
                calls.add("resume");
            }
        };
    }

    @Test
    void pauseAndResumeCallTheApplicationsHooksOnlyOnChange() {
        List<String> calls = new ArrayList<>();
        try (Machine m = Machine.builder("m").ram("ram", 4096).hooks(recording(calls)).build()) {
            assertEquals(RunState.PAUSED, m.runState());
            m.resume();
            m.resume();
            m.pause();
            m.pause(RunState.FINISH_MIGRATE);
            assertEquals(List.of("resume", "pause"), calls);
            assertEquals(RunState.FINISH_MIGRATE, m.runState());
        }
    }

    @Test
    void workWhilePausedSeesAStillMachineThatNoResumeCanInterrupt() throws Exception {
        List<String> calls = java.util.Collections.synchronizedList(new ArrayList<>());
        try (Machine m = Machine.builder("m").ram("ram", 4096).hooks(recording(calls)).build()) {
            m.resume();
            calls.clear();
            Thread[] cont = new Thread[1];
            String seen = m.whilePaused(() -> {
                // a cont from another thread (QMP) waits until the work is done
                cont[0] = Thread.ofPlatform().start(() -> m.enterIf(RunState.PAUSED, RunState.RUNNING));
                cont[0].join(200);
                return m.runState() + " " + cont[0].isAlive();
            });
            cont[0].join();
            assertEquals("PAUSED true", seen);
            assertEquals(List.of("pause", "resume"), calls, "paused for the work, then running again");
            assertTrue(m.runState().isRunning());

            m.pause(RunState.POSTMIGRATE);
            calls.clear();
            assertEquals(RunState.POSTMIGRATE, m.whilePaused(m::runState));
            assertEquals(RunState.POSTMIGRATE, m.runState(), "a machine that was not running stays as it was");
            assertEquals(List.of(), calls);
        }
    }

    @Test
    void enterIfAppliesOnlyToTheStateTheCallerSawSoASwitchoverIsNotUndone() {
        try (Machine m = Machine.builder("m").ram("ram", 4096).initialState(RunState.PAUSED).build()) {
            assertEquals(RunState.PAUSED, m.pause(RunState.FINISH_MIGRATE), "pause tells which state it left");
            // a cont that read "paused" before the switchover stopped the guest must not resume it now
            assertFalse(m.enterIf(RunState.PAUSED, RunState.RUNNING));
            assertEquals(RunState.FINISH_MIGRATE, m.runState());
            assertTrue(m.enterIf(RunState.FINISH_MIGRATE, RunState.POSTMIGRATE));
            assertEquals(RunState.POSTMIGRATE, m.runState());
            assertTrue(m.enterIf(RunState.POSTMIGRATE, RunState.RUNNING));
            assertTrue(m.runState().isRunning());
        }
    }

    @Test
    void qemuRefusesToContinueOnlyAGuestThatNeedsAReset() {
        for (RunState s : RunState.values()) {
            boolean reset = s == RunState.INTERNAL_ERROR || s == RunState.SHUTDOWN || s == RunState.GUEST_PANICKED;
            assertEquals(reset, s.needsReset(), s.qemuName());
        }
    }

    @Test
    void ramBlocksKeepTheirOrderAndNamesAreUnique() {
        var b = Machine.builder("m").ram("b", 4096).ram("a", 8192);
        assertThrows(IllegalArgumentException.class, () -> b.ram("a", 4096));
        try (Machine m = b.build()) {
            assertEquals(List.of("b", "a"), m.ramBlocks().stream().map(RamBlock::name).toList());
            assertEquals(12288, m.ramSize());
        }
    }

    @Test
    void blockersAreReportedUntilRemoved() {
        try (Machine m = Machine.builder("m").ram("ram", 4096).build()) {
            var blocker = m.blockers().add("no migration while formatting");
            assertEquals(List.of("no migration while formatting"), m.blockers().reasons());
            assertTrue(m.blockers().remove(blocker));
            assertEquals(List.of(), m.blockers().reasons());
        }
    }
}
