package dev.livemig.savevm;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.Registration;
import dev.livemig.vmstate.VmStateCodec;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamWriter;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Source-side emission of a machine's state as QEMU's stream (§3.5, §6.2): header and configuration,
 * START sections (setup), rounds of PART sections (iterate), then END sections, FULL device sections, EOF
 * and the vmdescription trailer (complete). The registry is read once, at construction, so that a
 * registration made during a migration cannot tear it. Driven by one thread.
 */
public final class SaveVm {
    private final Machine machine;
    private StreamWriter out; // replaced only by a postcopy recovery (continueOn)
    private final List<Registration> entries;
    private final List<Json> described = new ArrayList<>();

    /** A save of {@code machine} into {@code out}; the machine's registrations are read now, once. */
    public SaveVm(Machine machine, StreamWriter out) {
        this.machine = machine;
        this.out = out;
        this.entries = machine.devices().snapshot();
    }

    /**
     * Postcopy recovery (format reference §12.6): the rest of the save goes on {@code next}, a new main channel
     * that carries no header; what was buffered for the cut one is dropped with it.
     */
    public void continueOn(StreamWriter next) {
        this.out = next;
    }

    /** Refuses when the machine has migration blockers. */
    public static void checkNotBlocked(Machine machine) throws MigrationException {
        var reasons = machine.blockers().reasons();
        if (!reasons.isEmpty()) {
            throw new MigrationException("migration is blocked: " + String.join("; ", reasons));
        }
    }

    /** Header and configuration record. */
    public void header() throws MigrationException {
        header(false);
    }

    /** {@code validateUuid}: capability validate-uuid, which sends the machine's UUID when it has one. */
    public void header(boolean validateUuid) throws MigrationException {
        header(validateUuid, false);
    }

    /** {@code mappedRam}: the configuration lists capability mapped-ram, whose layout the RAM section then has. */
    public void header(boolean validateUuid, boolean mappedRam) throws MigrationException {
        StreamFraming.writeHeader(out);
        var validated = new java.util.ArrayList<String>(); // in QEMU's order of capabilities
        if (StandardSections.of(machine).ram().ignoreShared()) {
            validated.add(dev.livemig.migration.MigrationCapability.X_IGNORE_SHARED.qmpName());
        }
        if (mappedRam) {
            validated.add(dev.livemig.migration.MigrationCapability.MAPPED_RAM.qmpName());
        }
        ConfigurationRecord.write(out, machine.name(), validated, validateUuid ? machine.uuid().orElse(null) : null);
    }

    /** A START section for every active live handler. */
    public void setup() throws MigrationException {
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive()) {
                StreamFraming.writeSectionStart(out, false, live.sectionId(), live.idstr(), live.instanceId(), live.versionId());
                guarded(live, () -> live.handler().saveSetup(out));
                StreamFraming.writeFooter(out, live.sectionId());
            }
        }
    }

    /**
     * One round of PART sections within {@code budgetBytes} (0 = unlimited). As in QEMU 7.2, the round stops at
     * the first handler that still has data, so later handlers get a turn once earlier ones are done.
     * Returns true when every handler reported it has nothing more to send now.
     */
    public boolean iterate(long budgetBytes) throws MigrationException {
        long start = out.offset();
        for (Registration e : entries) {
            if (!(e instanceof Registration.Live live) || !live.handler().isActive() || !live.handler().isActiveIterate()) {
                continue;
            }
            long left = budgetBytes == 0 ? 0 : budgetBytes - (out.offset() - start);
            if (budgetBytes != 0 && left <= 0) {
                return false;
            }
            StreamFraming.writeSectionContinue(out, false, live.sectionId());
            boolean[] done = new boolean[1];
            guarded(live, () -> done[0] = live.handler().saveIterate(out, left));
            StreamFraming.writeFooter(out, live.sectionId());
            if (!done[0]) {
                return false;
            }
        }
        return true;
    }

    /** What the active live handlers still have to send; {@code exact} lets them sync dirty tracking first. */
    public LiveStateHandler.Pending pending(boolean exact) {
        long must = 0;
        long can = 0;
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive()) {
                var p = exact ? live.handler().pendingExact() : live.handler().pendingEstimate();
                must += p.mustPrecopy();
                can += p.canPostcopy();
            }
        }
        return new LiveStateHandler.Pending(must, can);
    }

    /**
     * SWITCHOVER_START where the machine's dialect sends it (10.0), then END sections, FULL device sections, EOF
     * and the trailer; the machine must be paused.
     */
    public void complete() throws MigrationException {
        switchoverStart();
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive()) {
                writeEnd(live);
            }
        }
        saveDevices(out);
        StreamFraming.writeEof(out);
        StreamFraming.writeVmDescription(out, vmDescription().getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /**
     * The switch to postcopy, machine paused (format reference §12.3): SWITCHOVER_START where the dialect sends
     * it, then END sections of the live handlers that cannot go on after the switch.
     */
    public void completeBeforePostcopy() throws MigrationException {
        switchoverStart();
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive() && !live.handler().hasPostcopy()) {
                writeEnd(live);
            }
        }
    }

    /**
     * The device state of the postcopy package: the FULL section of every device, into {@code pkg}. No EOF and
     * no trailer follow in postcopy (QEMU leaves both out once postcopy started).
     */
    public void saveDevices(StreamWriter pkg) throws MigrationException {
        for (Registration e : entries) {
            switch (e) {
                case Registration.Device<?> device -> saveDevice(pkg, device);
                case Registration.Opaque opaque -> {
                    StreamFraming.writeSectionStart(pkg, true, opaque.sectionId(), opaque.idstr(), opaque.instanceId(), opaque.versionId());
                    pkg.bytes(opaque.data());
                    StreamFraming.writeFooter(pkg, opaque.sectionId());
                    described.add(renamed(opaque.description(), opaque.idstr(), opaque.instanceId()));
                }
                case Registration.Live live -> {
                    // END sections, or still sending in postcopy
                }
            }
        }
    }

    /**
     * One round of PART sections of the handlers that go on after the switch to postcopy, within
     * {@code budgetBytes} (0 = unlimited; negative: only what the destination asked for). Returns true when
     * they have nothing left.
     */
    public boolean iteratePostcopy(long budgetBytes) throws MigrationException {
        boolean done = true;
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive() && live.handler().hasPostcopy()) {
                StreamFraming.writeSectionContinue(out, false, live.sectionId());
                boolean[] finished = new boolean[1];
                guarded(live, () -> finished[0] = live.handler().saveIterate(out, budgetBytes));
                StreamFraming.writeFooter(out, live.sectionId());
                done &= finished[0];
            }
        }
        return done;
    }

    /** The end of postcopy: END sections of the handlers that went on after the switch, then EOF; no trailer. */
    public void completePostcopy() throws MigrationException {
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive() && live.handler().hasPostcopy()) {
                writeEnd(live);
            }
        }
        StreamFraming.writeEof(out);
        out.flush();
    }

    private void switchoverStart() throws MigrationException {
        if (machine.compat().sendSwitchoverStart()) {
            dev.livemig.wire.format.MigrationCommands.write(out, new dev.livemig.wire.format.MigrationCommand.SwitchoverStart());
        }
    }

    private void writeEnd(Registration.Live live) throws MigrationException {
        StreamFraming.writeSectionContinue(out, true, live.sectionId());
        guarded(live, () -> live.handler().saveCompletePrecopy(out));
        StreamFraming.writeFooter(out, live.sectionId());
    }

    /** Cleanup of every live handler, whatever the outcome. */
    public void cleanup() {
        for (Registration e : entries) {
            if (e instanceof Registration.Live live) {
                live.handler().saveCleanup();
            }
        }
    }

    /** The trailer's JSON: QEMU 7.2's schema, {"page_size": N, "devices": [...]}. */
    String vmDescription() {
        return JsonWriter.compact(Json.object()
                .put("page_size", RamBlock.TARGET_PAGE_SIZE)
                .put("devices", new Json.Arr(described))
                .build());
    }

    private <T> void saveDevice(StreamWriter into, Registration.Device<T> device) throws MigrationException {
        if (!device.description().needed(device.state())) {
            return;
        }
        StreamFraming.writeSectionStart(into, true, device.sectionId(), device.idstr(), device.instanceId(), device.versionId());
        Json.Obj[] vmsd = new Json.Obj[1];
        guarded(device, () -> vmsd[0] = VmStateCodec.save(into, device.description(), device.state()));
        StreamFraming.writeFooter(into, device.sectionId());
        var obj = Json.object().put("name", device.idstr()).put("instance_id", device.instanceId());
        vmsd[0].members().forEach(m -> obj.put(m.name(), m.value()));
        described.add(obj.build());
    }

    /** A described section re-labelled with the idstr and instance it is written under here. */
    private static Json renamed(Json.Obj description, String idstr, int instanceId) {
        var obj = Json.object().put("name", idstr).put("instance_id", instanceId);
        for (Json.Member m : description.members()) {
            if (!m.name().equals("name") && !m.name().equals("instance_id")) {
                obj.put(m.name(), m.value());
            }
        }
        return obj.build();
    }

    interface Step {
        void run() throws MigrationException;
    }

    /** Runs a handler step; its errors, checked or not, leave as a MigrationException naming the section. */
    static void guarded(Registration e, Step step) throws MigrationException {
        try {
            step.run();
        } catch (MigrationException ex) {
            throw ex.inSection(e.idstr());
        } catch (RuntimeException ex) {
            throw new MigrationException("state handler failed: " + ex, e.idstr(), -1, ex);
        }
    }
}
