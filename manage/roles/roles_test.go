package roles_test

import (
	"slices"
	"testing"

	"github.com/optibid/idp/manage/roles"
)

func TestModel(t *testing.T) {
	all := map[string]bool{}
	for _, r := range roles.All {
		for _, p := range roles.Permissions(r) {
			all[p] = true
		}
	}
	if len(all) < 25 {
		t.Fatalf("%d permissions, want at least 25", len(all))
	}
	// Each role includes everything of the roles below it.
	for i := 0; i+1 < len(roles.All); i++ {
		hi, lo := roles.Permissions(roles.All[i]), roles.Permissions(roles.All[i+1])
		for _, p := range lo {
			if !slices.Contains(hi, p) {
				t.Errorf("%s lacks %s that %s has", roles.All[i], p, roles.All[i+1])
			}
		}
		if len(hi) <= len(lo) {
			t.Errorf("%s is not more privileged than %s", roles.All[i], roles.All[i+1])
		}
	}
	for _, tc := range []struct {
		role, perm string
		want       bool
	}{
		{roles.Viewer, roles.BidsSubmit, false}, {roles.Member, roles.BidsSubmit, true}, {roles.Member, roles.MembersInvite, false},
		{roles.Admin, roles.ConnectionsManage, true}, {roles.Admin, roles.OrgDelete, false}, {roles.Owner, roles.OrgDelete, true},
		{"root", roles.OrgRead, false},
	} {
		if got := roles.Has(tc.role, tc.perm); got != tc.want {
			t.Errorf("Has(%s, %s) = %v", tc.role, tc.perm, got)
		}
	}
	if roles.Rank(roles.Owner) <= roles.Rank(roles.Admin) || roles.Rank("x") != 0 {
		t.Fatal("rank")
	}
	if !slices.IsSorted(roles.Permissions(roles.Owner)) {
		t.Fatal("permissions not sorted")
	}
}
