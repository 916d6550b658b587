//! Threads for bulk work (a Prometheus tick, a sweep over every server):
//! each on its own OS thread and runtime, at the lowest CPU priority, so it
//! never holds a worker that answers KEDA or sends a wake.

/// Runs `task` to completion on a new OS thread with its own single-thread
/// runtime, at the lowest CPU priority.
pub fn run_on_own_thread(
    name: &'static str,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            yield_cpu_to_calls(name);
            runtime.block_on(task);
        })?;
    Ok(())
}

/// Lowers this thread's CPU priority (nice 19, `SCHED_OTHER`), so that bulk
/// work (a poll tick's parsing, a sweep over the fleet) yields to the gRPC
/// workers and wakes when both want a core.
/// Lowering needs no privilege; if it fails anyway the thread runs at
/// normal priority.
fn yield_cpu_to_calls(name: &str) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::warn!(thread = name, error = %e, "could not lower the thread's priority");
    }
}
