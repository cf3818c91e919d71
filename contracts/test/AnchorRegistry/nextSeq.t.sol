// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AnchorRegistry_Base} from "./Base.t.sol";

/// @notice `nextSeq`: 0, then the last anchor's lastSeq + 1.
contract AnchorRegistry_NextSeq_Test is AnchorRegistry_Base {
    function test_When_Empty_IsZero() public view {
        assertEq(registry.nextSeq(), 0, "starts at 0");
    }

    function test_When_Anchored_IsLastSeqPlusOne() public {
        _anchor(0, 0, ROOT);
        assertEq(registry.nextSeq(), 1, "after one record");
        _anchor(1, 41, ROOT);
        assertEq(registry.nextSeq(), 42, "after 42 records");
    }
}
