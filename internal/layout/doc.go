// Package layout holds no code, only a test that keeps FieldSync's package
// layout from rotting. It reads "go list -deps -json ./..." from the module
// root and the module's Go source, and fails, naming the package or file,
// when a package imports across a line the layout draws:
//
//   - contract, contract/rulebook and contract/engine import only the
//     standard library and each other downward (engine → rulebook →
//     contract);
//   - nothing under syncqueue or localstore imports app, ui or server, nor
//     anything from fyne.io;
//   - nothing under server imports app, ui, syncqueue or localstore;
//   - ui and app/mobile import no package of the module but app (and
//     assets, for ui), and ui imports neither fyne.io/fyne/v2/app,
//     database/sql nor net/http: screens reach everything through the
//     facade;
//   - internal/wirejson is imported only by server and its subpackages,
//     syncqueue, localstore and internal/apiclient (tests aside);
//   - app exports no function or method named Store or Queue;
//   - no non-test Go file is over 800 lines.
//
// Direct imports are checked, of the module's non-test packages. The
// package imports nothing of the module; its test imports only the
// standard library and runs the go command.
package layout
