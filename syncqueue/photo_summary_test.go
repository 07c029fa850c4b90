package syncqueue

import (
	"testing"

	"fieldsync/contract"
)

func TestAPhotosMetadataAloneMovesTheRoundButSaysNothingYet(t *testing.T) {
	var r Round
	r.Add(contract.Operation{RecordType: "photo", Action: contract.ActionAppend}, contract.Result{Outcome: contract.Applied})
	if !r.moved() {
		t.Errorf("the round that sent the photo's metadata did not count as moving anything")
	}
	if !r.Empty() || r.Photos != 1 {
		t.Errorf("round %+v: want one photo's metadata and nothing to say until its content is up", r)
	}
}
