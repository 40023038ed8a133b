// The pod sandbox ("pause") program of the test node's local pause image. No dependencies.
module conclab.dev/test/cluster/pause

go 1.24.0
