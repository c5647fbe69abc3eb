/**
 * Dev-server flags for tests. The history service fires no timer earlier than now + 1 s
 * (history.timerProcessorMaxTimeShift), so a workflow's 10 ms wait took ~1 s: the 2,000-loop
 * continue-as-new test spent 97% of its time there. Production keeps the default.
 */
export const TEST_SERVER_ARGS = ['--log-level', 'error', '--dynamic-config-value', 'history.timerProcessorMaxTimeShift="10ms"', '--dynamic-config-value', 'history.timerProcessorMaxPollRPS=1000'];
